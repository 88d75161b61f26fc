"""Loading every kind of image Pillow reads, resizing, and the VGG pre/deprocessing convention."""
import numpy as np
import pytest
from PIL import Image

from keras_style.errors import UserError
from keras_style.files import images

from .conftest import make_picture


def test_preprocess_is_bgr_minus_imagenet_mean():
    rgb = np.zeros((2, 3, 3), dtype=np.float32)
    rgb[..., 0] = 200.0  # red
    x = images.preprocess(rgb)
    assert x.shape == (1, 2, 3, 3)
    np.testing.assert_allclose(x[0, 0, 0], [-103.939, -116.779, 200.0 - 123.68], rtol=1e-6)


def test_preprocess_deprocess_round_trip_on_a_copy():
    rgb = make_picture(40, 33).astype(np.float32)
    x = images.preprocess(rgb)
    before = x.copy()
    back = images.deprocess(x)
    assert back.dtype == np.uint8 and back.shape == (33, 40, 3)
    np.testing.assert_array_equal(back, rgb.astype(np.uint8))
    np.testing.assert_array_equal(x, before)  # deprocess never touches its input


def test_deprocess_clips_to_byte_range():
    x = np.full((1, 4, 4, 3), 500.0, dtype=np.float32)
    assert images.deprocess(x).max() == 255
    assert images.deprocess(-x).min() == 0


def test_pixel_bounds_are_0_255_minus_mean():
    low, high = images.pixel_bounds()
    np.testing.assert_allclose(low, [-103.939, -116.779, -123.68], rtol=1e-6)
    np.testing.assert_allclose(high - low, 255.0)


@pytest.mark.parametrize(
    "mode, suffix",
    [("L", ".png"), ("P", ".png"), ("RGBA", ".png"), ("CMYK", ".jpg"), ("I;16", ".png"), ("RGB", ".webp"),
     ("RGB", ".tiff"), ("P", ".gif"), ("LA", ".png"), ("1", ".png")],
)
def test_every_mode_loads_as_rgb(tmp_path, mode, suffix):
    source = Image.fromarray(make_picture(48, 40))
    if mode == "I;16":
        picture = Image.fromarray(np.asarray(source.convert("L"), dtype=np.uint16) * 257)
    else:
        picture = source.convert(mode)
    path = tmp_path / f"picture{suffix}"
    picture.save(path)
    loaded = images.load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (48, 40)


def test_sixteen_bit_keeps_its_range(tmp_path):
    values = np.full((40, 40), 65535, dtype=np.uint16)
    values[:, :20] = 0
    Image.fromarray(values).save(tmp_path / "deep.png")
    loaded = np.asarray(images.load_image(tmp_path / "deep.png"))
    assert loaded[0, 0, 0] == 0 and loaded[0, 39, 0] == 255


def test_alpha_is_composited_onto_white(tmp_path):
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, fully transparent
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    assert np.asarray(images.load_image(tmp_path / "clear.png"))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_honoured(tmp_path):
    picture = Image.fromarray(make_picture(60, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    picture.save(tmp_path / "rotated.jpg", exif=exif)
    assert images.load_image(tmp_path / "rotated.jpg").size == (40, 60)


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert np.asarray(images.load_image(tmp_path / "anim.gif"))[0, 0, 0] > 200


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.mkdir(), p)[1], "is a folder"),
        (lambda p: (p.write_bytes(b""), p)[1], "is an empty file"),
        (lambda p: (p.write_text("not a picture"), p)[1], "is not an image"),
    ],
)
def test_unusable_files_are_one_line_errors(tmp_path, make, message):
    path = make(tmp_path / "input.png")
    with pytest.raises(UserError, match=message) as caught:
        images.load_image(path)
    assert "\n" not in str(caught.value)


def test_truncated_file(tmp_path):
    Image.fromarray(make_picture(200, 200)).save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        images.load_image(tmp_path / "cut.jpg")


def test_decompression_bomb(tmp_path, monkeypatch):
    Image.fromarray(make_picture(100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100 // 2)  # the warning band: 1x..2x the limit
    with pytest.raises(UserError, match="too large"):
        images.load_image(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the error band: over 2x
    with pytest.raises(UserError, match="too large"):
        images.load_image(tmp_path / "big.png")


@pytest.mark.parametrize(
    "size, mode, expected",
    [((1024, 768), "longest", (512, 384)), ((768, 1024), "longest", (384, 512)),
     ((1024, 768), "height", (533, 400)), ((1024, 768), "square", (512, 512))],
)
def test_target_size(size, mode, expected):
    target = 400 if mode == "height" else 512
    assert images.target_size(*size, target, mode) == expected


def test_too_small_after_resize():
    with pytest.raises(UserError, match="at least 32 px"):
        images.resize(Image.new("RGB", (100, 5)), 100, 5)


def test_style_keeps_its_aspect_and_scale():
    style = Image.new("RGB", (300, 100))
    assert images.style_size(style, (128, 96), 1.0) == (128, 43)
    assert images.style_size(style, (128, 96), 2.0) == (256, 85)


def test_initial_images():
    content = make_picture(40, 32).astype(np.float32)
    rng = np.random.default_rng(3)
    style = np.zeros_like(content)
    np.testing.assert_array_equal(images.initial_image("content", content, lambda: style, rng), content)
    assert (images.initial_image("white", content, lambda: style, rng) == 255).all()
    noise = images.initial_image("noise", content, lambda: style, rng)
    assert noise.shape == content.shape and 0 <= noise.min() and noise.max() <= 255 and noise.std() > 50
    assert images.initial_image("style", content, lambda: style, rng) is style


def test_the_bomb_guard_does_not_rest_on_warning_filters(tmp_path, monkeypatch):
    """Another thread's warnings.catch_warnings can restore the filters while this one loads (the web server checks
    uploads in threads): simulated here by a simplefilter that changes nothing. The image in the warning band must
    still be refused, from its header."""
    import warnings

    Image.fromarray(make_picture(100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100 * 2 // 3)
    monkeypatch.setattr(warnings, "simplefilter", lambda *args, **kwargs: None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        with pytest.raises(UserError, match="too large to open safely"):
            images.load_image(tmp_path / "big.png")
