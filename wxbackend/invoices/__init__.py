"""我的发票 and 发票信息管理: invoice profiles, invoice requests, issuing, delivery, download links."""
