"""Image files in and out of the network: loading any Pillow image, resizing, VGG pre- and deprocessing."""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_style.config.choices import RESIZE_MODES
from keras_style.errors import UserError, first_line

ImageSource = str | os.PathLike | Image.Image | np.ndarray

# VGG halves the resolution five times; below 32 px the deepest block has no positions left.
MIN_SIDE = 32
# The ImageNet channel means that caffe-style preprocessing subtracts, in BGR order.
IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite transparent pixels onto white: VGG has no alpha channel and white is what a viewer shows."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


# Pillow modes whose samples are 16-bit: 65535 is white.
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def _declared_bits(image: Image.Image) -> int | None:
    """Bits per sample the file declares for mode 'I' pixels, read from the raw mode of its not yet decoded data
    ('I;16B' from a 16-bit PNG or PGM, 'I;32S' from a 32-bit TIFF); None once decoded or for an image made in memory."""
    for tile in getattr(image, "tile", None) or ():
        args = tile[3] if isinstance(tile[3], tuple) else (tile[3],)
        rawmode = args[0] if args and isinstance(args[0], str) else ""
        for bits in (16, 32):
            if f";{bits}" in rawmode:
                return bits
    return None


def _white_level(image: Image.Image, bits: int | None) -> float:
    """The sample value that is white, decided by the mode's bit depth, never by the values themselves (a dark
    16-bit scan has only small values). Mode 'I' is how Pillow holds 16-bit greyscale from PGM, signed 16-bit TIFF
    and (in older versions) PNG, so it is 16-bit unless the file declares 32 bits. Float ('F') images have no depth:
    they are taken as 0..1, the convention of float TIFFs, when no value exceeds 1, else as 0..255 like Pillow's
    own convert('L')."""
    if image.mode == "F":
        return 1.0 if np.asarray(image).max(initial=0) <= 1.0 else 255.0
    if image.mode == "I" and bits == 32:
        return 2.0**31 - 1  # mode 'I' holds signed 32-bit integers
    return 65535.0


def _to_rgb(image: Image.Image, bits: int | None = None) -> Image.Image:
    """Any Pillow mode (greyscale, palette, RGBA, CMYK, 16-bit, 32-bit, float) to 8-bit RGB; `bits` is what the
    file declared for mode 'I' (_declared_bits)."""
    if image.mode in (*SIXTEEN_BIT_MODES, "I", "F"):
        # Pillow's own conversion clips 16-bit values at 255; rescale by the mode's range instead.
        values = np.asarray(image, dtype=np.float64)
        grey = np.clip(values / _white_level(image, bits) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return _flatten_alpha(image)
    return image.convert("RGB")


# Between one and two times Pillow's pixel limit Image.open only warns: the loaders compare the header's pixel count
# themselves (_check_pixels) instead of turning the warning into an error, which warnings.catch_warnings cannot do
# safely while other threads (the web server's) load images too. The warning itself is then noise.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _check_pixels(opened: Image.Image) -> None:
    """Refuse, from the header and before decoding, an image over Pillow's pixel limit (a decompression bomb)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit and opened.width * opened.height > limit:
        raise Image.DecompressionBombError(
            f"{opened.width * opened.height} pixels, over the limit of {limit} pixels")


def load_image(source: ImageSource, what: str = "image") -> Image.Image:
    """Open a path (or take an image/array) as 8-bit RGB, honouring EXIF orientation.

    16-bit images are scaled by their bit depth (65535 is white) and float images as _white_level says. Arrays
    are taken as 0..255 whatever their dtype (values outside are clipped): scale a 0..1 float array by 255 first.
    Every way a file can be unusable becomes a one-line UserError naming the file.
    """
    if isinstance(source, Image.Image):
        return _to_rgb(ImageOps.exif_transpose(source), _declared_bits(source))
    if isinstance(source, np.ndarray):
        return _array_to_image(source, what)
    path = Path(source)
    try:
        if not path.exists():
            raise UserError(f"{what} {str(path)!r} does not exist")
        if path.is_dir():
            raise UserError(f"{what} {str(path)!r} is a folder, not an image file")
        if path.stat().st_size == 0:
            raise UserError(f"{what} {str(path)!r} is an empty file")
        with Image.open(path) as opened:
            _check_pixels(opened)
            opened.seek(0)  # first frame of an animated GIF/WebP/TIFF
            bits = _declared_bits(opened)  # decoding forgets the raw mode
            opened.load()
            return _to_rgb(ImageOps.exif_transpose(opened), bits)
    except UserError:
        raise  # the checks above: a ValueError, but already the whole story
    except Image.DecompressionBombError as error:
        raise UserError(f"{what} {str(path)!r} is too large to open safely ({first_line(error)})") from None
    except UnidentifiedImageError:
        raise UserError(f"{what} {str(path)!r} is not an image file Pillow can read") from None
    except PermissionError:
        # An OSError too, but nothing is wrong with the file itself.
        raise UserError(f"{what} {str(path)!r} cannot be read: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise UserError(f"{what} {str(path)!r} is damaged or truncated ({first_line(error)})") from None


def _array_to_image(array: np.ndarray, what: str) -> Image.Image:
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise UserError(f"{what} array must be HxW, HxWx3 or HxWx4, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(np.asarray(array, dtype=np.float64), 0, 255).round().astype(np.uint8)
    return _to_rgb(Image.fromarray(array))


def target_size(width: int, height: int, size: int, mode: str = "longest") -> tuple[int, int]:
    """(width, height) of the output: longest side = size, height = size, or size x size (articles' square)."""
    if mode == "square":
        return size, size
    if mode == "height":
        return max(1, round(width * size / height)), size
    if mode == "longest":
        scale = size / max(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))
    raise UserError(f"unknown resize mode {mode!r}; choose from {', '.join(RESIZE_MODES)}")


def resize(image: Image.Image, width: int, height: int, what: str = "image") -> Image.Image:
    """Resize with Lanczos, refusing sizes too small for VGG."""
    if min(width, height) < MIN_SIDE:
        raise UserError(
            f"{what} would be {width}x{height} px after resizing; the network needs at least "
            f"{MIN_SIDE} px on each side (raise --size or use a less elongated image)"
        )
    if image.size == (width, height):
        return image
    return image.resize((width, height), Image.Resampling.LANCZOS)


def style_size(style: Image.Image, output_size: tuple[int, int], style_scale: float) -> tuple[int, int]:
    """Style keeps its aspect ratio; its longest side is the output's longest side times style_scale."""
    longest = max(1, round(max(output_size) * style_scale))
    return target_size(style.width, style.height, longest, "longest")


def to_array(image: Image.Image) -> np.ndarray:
    """RGB image to float32 array (H, W, 3) in 0..255."""
    return np.asarray(image, dtype=np.float32)


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """RGB 0..255 (H, W, 3) to the network's input (1, H, W, 3): BGR, ImageNet mean subtracted.

    Uses Keras's own caffe-mode preprocess_input so the convention is the one the weights were trained with.
    """
    from keras.applications import vgg19

    batch = np.array(rgb, dtype=np.float32, copy=True)[None]
    return vgg19.preprocess_input(batch)


def deprocess(x: np.ndarray) -> np.ndarray:
    """Network input (1, H, W, 3) or (H, W, 3) back to uint8 RGB, on a copy so an optimiser's state is untouched."""
    image = np.array(x, dtype=np.float32, copy=True).reshape(x.shape[-3:])
    image += IMAGENET_MEAN_BGR
    return np.clip(image[:, :, ::-1], 0, 255).round().astype(np.uint8)


def pixel_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (low, high) of a preprocessed pixel: 0..255 minus the BGR mean."""
    return -IMAGENET_MEAN_BGR, 255.0 - IMAGENET_MEAN_BGR




# jcjohnson/neural-style's -init random: randn * 0.001 in the network's input, the mean subtracted (0..255 levels).
MEAN_INIT_NOISE = 1e-3


def initial_image(
    init: str,
    content: np.ndarray,
    style_at_output: Callable[[], np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """The starting point in RGB 0..255 (H, W, 3): content, uniform noise, white, the style, the ImageNet mean
    colour with noise of MEAN_INIT_NOISE levels (jcjohnson/neural-style's random start), the content with the style's
    colour mean and covariance (palette), or an image file."""
    if init == "content":
        return content.copy()
    if init == "noise":
        return rng.uniform(0.0, 255.0, size=content.shape).astype(np.float32)
    if init == "white":
        return np.full(content.shape, 255.0, dtype=np.float32)
    if init == "style":
        return style_at_output()
    if init == "palette":
        from keras_style.files.colors import match_color_statistics

        return match_color_statistics(content, style_at_output())
    if init == "mean":
        mean_rgb = IMAGENET_MEAN_BGR[::-1]
        return (mean_rgb + rng.normal(scale=MEAN_INIT_NOISE, size=content.shape)).astype(np.float32)
    height, width = content.shape[:2]
    return to_array(resize(load_image(init, "--init image"), width, height, "--init image"))
