"""A fake e-invoice platform on 127.0.0.1, playing the `http` invoice adapter's other side.

`POST /invoices` with `Authorization: Bearer <key>` and a JSON invoice (request_no, seller, buyer, items,
total_fen) → 200 `{"invoice_no", "issued_at", "pdf_base64"}`: a 20-digit number and a PDF it draws. The same
request_no gives back the same invoice (idempotent). A buyer tax number registered as refused → 422
`{"code", "message"}`. Control endpoints:

- `POST /_fake/reset`, `GET /_fake/calls` (how many issue calls, and the last request body)
- `POST /_fake/fail {"times", "status"}`: the next calls answer that status (503 by default)
- `POST /_fake/refuse {"tax_number", "message"}`: invoices to that buyer are refused

Run alone: `python -m fakes.einvoice --port 5103 --key dev-einvoice-key`.
"""

from __future__ import annotations

import argparse
import base64
import io
import threading
from datetime import UTC, datetime

from flask import Flask, jsonify, request


def draw_pdf(invoice_no: str, body: dict, issued_at: datetime) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    pdf.setFont("STSong-Light", 16)
    pdf.drawString(60, 780, "电子发票（普通发票）— 电子发票服务平台（模拟）")
    pdf.setFont("STSong-Light", 11)
    buyer, y = body.get("buyer", {}), 740
    lines = [f"发票号码：{invoice_no}", f"开票日期：{issued_at:%Y年%m月%d日}",
             f"购买方：{buyer.get('title', '')}", f"纳税人识别号：{buyer.get('tax_number') or '—'}",
             f"销售方：{body.get('seller', {}).get('name', '')}"]
    lines += [f"{item.get('name', '')}  {item.get('order_no', '')}  {item.get('amount_fen', 0) / 100:.2f}"
              for item in body.get("items", [])]
    lines.append(f"价税合计：¥{body.get('total_fen', 0) / 100:.2f}")
    for line in lines:
        pdf.drawString(60, y, line)
        y -= 20
    pdf.save()
    return out.getvalue()


def create_fake_einvoice(api_key: str) -> Flask:
    app = Flask("fake_einvoice")
    state: dict = {}
    lock = threading.Lock()

    def reset() -> None:
        state.update(issued={}, calls=0, last=None, fail={"times": 0, "status": 503}, refused={}, serial=0)

    reset()

    @app.post("/invoices")
    def issue():
        if request.headers.get("Authorization") != f"Bearer {api_key}":
            return jsonify(code="unauthorized", message="API密钥无效"), 401
        body = request.get_json(silent=True) or {}
        with lock:
            state["calls"] += 1
            state["last"] = body
            if state["fail"]["times"] > 0:
                state["fail"]["times"] -= 1
                return jsonify(code="busy", message="系统繁忙"), state["fail"]["status"]
            request_no = body.get("request_no") or ""
            if not request_no or not body.get("items"):
                return jsonify(code="invalid", message="缺少申请编号或开票项目"), 400
            refused = state["refused"].get((body.get("buyer") or {}).get("tax_number", ""))
            if refused:
                return jsonify(code="buyer_refused", message=refused), 422
            if request_no not in state["issued"]:
                state["serial"] += 1
                issued_at = datetime.now(UTC).replace(microsecond=0)
                number = f"{issued_at:%y}44{state['serial']:016d}"
                state["issued"][request_no] = {"invoice_no": number, "issued_at": issued_at.isoformat(),
                                               "pdf_base64": base64.b64encode(draw_pdf(number, body, issued_at))
                                               .decode()}
            return jsonify(state["issued"][request_no])

    @app.post("/_fake/reset")
    def reset_endpoint():
        with lock:
            reset()
        return jsonify(ok=True)

    @app.get("/_fake/calls")
    def calls():
        with lock:
            return jsonify(calls=state["calls"], last=state["last"], issued=len(state["issued"]))

    @app.post("/_fake/fail")
    def fail():
        body = request.get_json()
        with lock:
            state["fail"] = {"times": int(body.get("times", 1)), "status": int(body.get("status", 503))}
        return jsonify(ok=True)

    @app.post("/_fake/refuse")
    def refuse():
        body = request.get_json()
        with lock:
            state["refused"][body["tax_number"]] = body.get("message", "购买方纳税人识别号不存在")
        return jsonify(ok=True)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fakes.einvoice", description="fake e-invoice platform on 127.0.0.1")
    parser.add_argument("--port", type=int, default=5103)
    parser.add_argument("--key", default="dev-einvoice-key")
    args = parser.parse_args(argv)
    create_fake_einvoice(args.key).run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
