"""Inputs read right: the values that come out, not only the mode and size (bit depth, EXIF rotation, palette
transparency, CMYK), and an unreadable file reported as what it is."""
import errno
import os

import numpy as np
import pytest
from PIL import Image

from keras_style.errors import UserError
from keras_style.files import images

from .conftest import make_picture


def grey(path) -> np.ndarray:
    """The loaded picture's red channel (the three are equal for a greyscale file)."""
    return np.asarray(images.load_image(path))[..., 0]


def test_permission_denied_is_not_called_damaged(tmp_path, monkeypatch):
    path = tmp_path / "locked.png"
    Image.fromarray(make_picture(40, 40)).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(Image, "open", denied)
    with pytest.raises(UserError, match="permission denied") as caught:
        images.load_image(path, "content image")
    message = str(caught.value)
    assert str(path) in message and "damaged" not in message and "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_permission_denied_by_the_file_system(tmp_path):
    path = tmp_path / "locked.png"
    Image.fromarray(make_picture(40, 40)).save(path)
    path.chmod(0)
    with pytest.raises(UserError, match="permission denied"):
        images.load_image(path)


@pytest.mark.parametrize("stored, expected", [(200, 1), (51400, 200), (65535, 255), (0, 0)])
def test_sixteen_bit_png_is_scaled_by_its_depth_not_its_values(tmp_path, stored, expected):
    # 200 of 65535 is almost black, even though it would fit in 8 bits.
    Image.fromarray(np.full((40, 40), stored, dtype=np.uint16)).save(tmp_path / "deep.png")
    assert (grey(tmp_path / "deep.png") == expected).all()


def test_sixteen_bit_pgm_opened_as_mode_i_is_scaled_by_its_depth(tmp_path):
    path = tmp_path / "deep.pgm"
    path.write_bytes(b"P5 40 40 65535\n" + np.full((40, 40), 200, dtype=">u2").tobytes())
    with Image.open(path) as opened:
        assert opened.mode == "I"
    assert (grey(path) == 1).all()


def test_thirty_two_bit_tiff_is_scaled_by_its_declared_depth(tmp_path):
    values = np.full((40, 40), 2**31 - 1, dtype=np.int32)
    values[:, :20] = 2**30
    Image.fromarray(values).save(tmp_path / "deep.tiff")
    loaded = grey(tmp_path / "deep.tiff")
    assert loaded[0, 0] == 128 and loaded[0, 39] == 255


@pytest.mark.parametrize("stored, expected", [(0.5, 128), (1.0, 255), (0.0, 0)])
def test_float_tiff_in_0_to_1_is_grey_not_black(tmp_path, stored, expected):
    Image.fromarray(np.full((40, 40), stored, dtype=np.float32)).save(tmp_path / "float.tiff")
    assert (grey(tmp_path / "float.tiff") == expected).all()


def test_float_tiff_above_1_is_taken_as_0_to_255(tmp_path):
    values = np.full((40, 40), 100.0, dtype=np.float32)
    values[0, 0] = 200.0
    Image.fromarray(values).save(tmp_path / "float.tiff")
    loaded = grey(tmp_path / "float.tiff")
    assert loaded[0, 0] == 200 and loaded[1, 1] == 100


def test_arrays_are_0_to_255_whatever_their_dtype():
    values = np.full((40, 40, 3), 100.0)
    assert (np.asarray(images.load_image(values)) == 100).all()
    assert (np.asarray(images.load_image(np.full((40, 40), 300, dtype=np.uint16))) == 255).all()


# How EXIF orientation 1..8 says the stored pixels must be turned for display, written with numpy.
ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),  # 90 degrees clockwise
    7: lambda a: np.rot90(a, -1)[::-1],
    8: lambda a: np.rot90(a, 1),  # 90 degrees anticlockwise
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_moves_the_pixels(tmp_path, orientation):
    stored = make_picture(60, 40)  # no symmetry: red grows left to right, blue waves top to bottom
    stored[:8, :8] = [255, 0, 0]  # and a red corner to look for
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "turned.png", exif=exif)
    shown = np.asarray(images.load_image(tmp_path / "turned.png"))
    np.testing.assert_array_equal(shown, ORIENTATIONS[orientation](stored))


def test_exif_rotation_of_a_jpeg_puts_the_corner_where_it_belongs(tmp_path):
    stored = np.full((40, 64, 3), 255, dtype=np.uint8)
    stored[:16, :16] = [255, 0, 0]  # red top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise for display: top-left goes to top-right
    Image.fromarray(stored).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    shown = np.asarray(images.load_image(tmp_path / "turned.jpg")).astype(int)
    assert shown.shape == (64, 40, 3)
    assert np.abs(shown[4, 36] - [255, 0, 0]).max() < 20  # top-right: red
    assert np.abs(shown[4, 4] - [255, 255, 255]).max() < 20  # top-left: white
    assert np.abs(shown[60, 4] - [255, 255, 255]).max() < 20  # bottom-left: white


def test_palette_transparency_becomes_white_and_the_rest_keeps_its_colour(tmp_path):
    indices = np.zeros((40, 40), dtype=np.uint8)
    indices[:, 20:] = 1
    indices[:10] = 2
    picture = Image.frombytes("P", (40, 40), indices.tobytes())
    picture.putpalette([200, 30, 40, 10, 150, 60, 0, 0, 255])  # red, green, and blue that is transparent
    picture.save(tmp_path / "palette.png", transparency=2)
    loaded = np.asarray(images.load_image(tmp_path / "palette.png"))
    assert loaded[0, 0].tolist() == [255, 255, 255] and loaded[0, 39].tolist() == [255, 255, 255]
    assert loaded[20, 0].tolist() == [200, 30, 40]
    assert loaded[20, 39].tolist() == [10, 150, 60]


# CMYK ink (0..255 each) and the RGB it prints as: (255 - C) * (255 - K) / 255 per channel.
CMYK_COLOURS = [
    ((0, 0, 0, 0), (255, 255, 255)),
    ((255, 0, 0, 0), (0, 255, 255)),
    ((0, 255, 255, 0), (255, 0, 0)),
    ((0, 0, 0, 255), (0, 0, 0)),
    ((0, 0, 0, 128), (127, 127, 127)),
    ((64, 128, 192, 0), (191, 127, 63)),
]


@pytest.mark.parametrize("suffix, tolerance", [(".tiff", 1), (".jpg", 6)])
def test_cmyk_colours_come_out_right(tmp_path, suffix, tolerance):
    ink = np.zeros((16, 16 * len(CMYK_COLOURS), 4), dtype=np.uint8)
    for i, (cmyk, _) in enumerate(CMYK_COLOURS):
        ink[:, 16 * i:16 * (i + 1)] = cmyk  # whole 8x8 JPEG blocks of one colour
    Image.frombytes("CMYK", (ink.shape[1], ink.shape[0]), ink.tobytes()).save(tmp_path / f"cmyk{suffix}", quality=95)
    loaded = np.asarray(images.load_image(tmp_path / f"cmyk{suffix}")).astype(int)
    for i, (_, rgb) in enumerate(CMYK_COLOURS):
        assert np.abs(loaded[8, 16 * i + 8] - rgb).max() <= tolerance, (i, loaded[8, 16 * i + 8].tolist(), rgb)
