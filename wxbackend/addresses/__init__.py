"""我的地址: postal addresses for replacement keys and paper invoices."""
