"""寄送: the replacement key's shipment — the recipient chosen from 我的地址, the label, the waybill, tracking."""
