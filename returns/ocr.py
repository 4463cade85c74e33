"""The OCR engine that reads invoice and receipt images, and the limits around it.

Engine: RapidOCR's `rapidocr_onnxruntime` package (PyPI, pinned in requirements.txt) with the
PP-OCRv4 Chinese detection/recognition models that ship inside its wheel
(`rapidocr_onnxruntime/models/*.onnx`, `config.yaml` beside them): nothing is downloaded at run
time. One engine per process, made at first use (~1 s, a few hundred MB), CPU only.

Limits, so that one customer's upload cannot stall the worker: the file size
(RETURN_OCR_MAX_MB), the decoded pixel count (RETURN_OCR_MAX_PIXELS, checked from the header
before decoding), the longest side (RETURN_OCR_MAX_SIDE: bigger images are scaled down), and the
time (RETURN_OCR_TIME_LIMIT: an alarm in the worker's main thread, plus the task's own Celery soft
and hard limits as the backstop for a read stuck inside the native engine)."""

import contextlib
import io
import signal
import threading
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

ENGINE_PACKAGE = "rapidocr_onnxruntime"


class Unreadable(Exception):
    """The file cannot be read as an image within the limits; the message says why (translated)."""


@dataclass(frozen=True)
class TextLine:
    """One line of text the engine found, with the centre of its box (pixels of the image read)."""

    text: str
    x: float
    y: float
    height: float
    score: float


class RapidOcrEngine:
    """RapidOCR over its packaged ONNX models; `read` returns the lines found, top to bottom."""

    def __init__(self):
        from rapidocr_onnxruntime import RapidOCR  # heavy (onnxruntime, OpenCV): only in the worker

        self.name = f"RapidOCR {metadata.version(ENGINE_PACKAGE)}"
        self._ocr = RapidOCR(max_side_len=settings.RETURN_OCR_MAX_SIDE)

    def read(self, image: Image.Image) -> list[TextLine]:
        result, _elapsed = self._ocr(image)
        lines = []
        for box, text, score in result or []:
            xs, ys = [p[0] for p in box], [p[1] for p in box]
            lines.append(
                TextLine(
                    text=str(text),
                    x=(min(xs) + max(xs)) / 2,
                    y=(min(ys) + max(ys)) / 2,
                    height=max(ys) - min(ys),
                    score=float(score),
                )
            )
        return lines


@cache
def engine() -> RapidOcrEngine:
    """The process's one engine (tests replace this function with a fake)."""
    return RapidOcrEngine()


def open_image(data: bytes) -> Image.Image:
    """Decode an uploaded image within the limits, upright (EXIF orientation), RGB, its longest
    side at most RETURN_OCR_MAX_SIDE. Raises Unreadable with the reason."""
    max_bytes = int(settings.RETURN_OCR_MAX_MB * 1024 * 1024)
    if len(data) > max_bytes:
        raise Unreadable(_("The file is larger than %(mb)s MB.") % {"mb": settings.RETURN_OCR_MAX_MB})
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        width, height = image.size
        if width * height > settings.RETURN_OCR_MAX_PIXELS:
            raise Unreadable(
                _("The image is %(w)s × %(h)s pixels, more than %(max)s million.")
                % {"w": width, "h": height, "max": settings.RETURN_OCR_MAX_PIXELS // 1_000_000}
            )
        image.draft(
            "RGB", (settings.RETURN_OCR_MAX_SIDE, settings.RETURN_OCR_MAX_SIDE)
        )  # JPEG: decode smaller
        image = ImageOps.exif_transpose(image).convert("RGB")
    except Unreadable:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise Unreadable(_("The file is not an image that can be read.")) from exc
    image.thumbnail((settings.RETURN_OCR_MAX_SIDE, settings.RETURN_OCR_MAX_SIDE))
    return image


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise SoftTimeLimitExceeded in this thread after `seconds` (an interval timer; only in a
    process's main thread, where Celery's prefork children and pytest run tasks). Elsewhere it does
    nothing and the task's Celery time limits apply."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise SoftTimeLimitExceeded(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
