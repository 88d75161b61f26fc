"""Each loss term against numpy or a hand-computed value."""
import numpy as np
import pytest

from keras_style.engine import losses


def test_gram_matrix_matches_numpy():
    features = np.random.default_rng(0).normal(size=(1, 5, 7, 4)).astype(np.float32)
    flat = features.reshape(-1, 4)
    expected = flat.T @ flat
    got = np.asarray(losses.gram_matrix(features))
    assert got.shape == (4, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_content_loss_is_sum_of_squares():
    generated = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    target = np.array([[0.0, 2.0], [5.0, 1.0]], dtype=np.float32)
    assert float(losses.content_loss(generated, target)) == pytest.approx(1 + 0 + 4 + 9)


def test_style_scale_paper_and_keras_example():
    # paper: 1 / (4 N^2 M^2) with the layer's own N and M
    assert losses.style_scale("paper", channels=64, positions=100, input_positions=400) == pytest.approx(
        1 / (4 * 64**2 * 100**2)
    )
    # keras-example: N = 3, M = the input image's pixels, whatever the layer
    assert losses.style_scale("keras-example", channels=64, positions=100, input_positions=400) == pytest.approx(
        1 / (4 * 9 * 400**2)
    )
    with pytest.raises(ValueError):
        losses.style_scale("other", 1, 1, 1)


def test_style_loss_hand_computed():
    gram_a = np.array([[2.0, 1.0], [1.0, 3.0]], dtype=np.float32)
    gram_b = np.array([[0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    # differences 2, 0, 0, 2 -> sum of squares 8
    assert float(losses.style_loss(gram_a, gram_b, 0.5)) == pytest.approx(4.0)


def test_total_variation_hand_computed():
    image = np.zeros((1, 2, 2, 1), dtype=np.float32)
    image[0, 1, 0, 0] = 2.0  # below the top-left pixel
    image[0, 0, 1, 0] = 1.0  # right of it
    # only position (0, 0) counts: (0-2)^2 + (0-1)^2 = 5, raised to 1.25
    assert float(losses.total_variation_loss(image)) == pytest.approx(5**1.25, rel=1e-6)


def test_total_variation_zero_on_flat_image():
    assert float(losses.total_variation_loss(np.full((1, 6, 5, 3), 7.0, dtype=np.float32))) == 0.0
