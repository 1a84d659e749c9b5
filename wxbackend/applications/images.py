"""Uploaded scans, checked by what they are and never by what they are called: the magic bytes of JPEG, BMP, GIF
(and PNG), at most UPLOAD_MAX_BYTES, at most UPLOAD_MAX_PIXELS (a decompression bomb is refused before it is
decoded), then decoded and re-encoded by Pillow — EXIF, comments and anything hidden after the image data are
dropped."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from wxbackend.core.errors import DomainError

MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
         (b"\x89PNG\r\n\x1a\n", "PNG"))
ACCEPTED_TEXT = "jpg、jpeg、bmp、gif 或 png"


class ImageRefused(DomainError):
    code, status = "invalid_image", 400


def sniff(data: bytes) -> str | None:
    """The image format its first bytes say, or None."""
    return next((fmt for magic, fmt in MAGIC if data.startswith(magic)), None)


def reencode(data: bytes, max_bytes: int, max_pixels: int) -> tuple[bytes, str, int, int]:
    """(the re-encoded bytes, their content type, width, height); ImageRefused with the reason in Chinese."""
    if not data:
        raise ImageRefused("请选择要上传的图片", code="empty_file")
    if len(data) > max_bytes:
        raise ImageRefused(f"图片不能超过{max_bytes // (1024 * 1024)}MB，请压缩后重新上传", code="file_too_large")
    declared = sniff(data)
    if declared is None:
        raise ImageRefused(f"只能上传{ACCEPTED_TEXT}格式的图片", code="not_an_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != declared:
                raise ImageRefused(f"只能上传{ACCEPTED_TEXT}格式的图片", code="not_an_image")
            width, height = image.size
            if width * height > max_pixels or width < 1 or height < 1:
                raise ImageRefused("图片尺寸过大，请上传清晰的扫描件（不超过4000万像素）", code="too_many_pixels")
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageRefused("图片尺寸过大，请上传清晰的扫描件（不超过4000万像素）", code="too_many_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRefused("图片文件已损坏或无法识别，请重新扫描上传", code="broken_image") from None
    out = io.BytesIO()
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if declared == "PNG":
        image.save(out, "PNG", optimize=True)
        return out.getvalue(), "image/png", width, height
    image.save(out, "JPEG", quality=88)  # no exif= argument: the metadata is not carried over
    return out.getvalue(), "image/jpeg", width, height
