"""Where the ImageNet weights are found: a --weights file, then $KERAS_STYLE_WEIGHTS_DIR, then Keras's cache, then
Keras's download; a no-top file preferred in a folder, and an ambiguous folder named in full. Resolution only returns
a path, so empty placeholder .h5 files stand in for the weights (one test loads the real ones)."""
import pytest

from keras_style.errors import UserError
from keras_style.files import weights
from keras_style.files.weights import KERAS_CACHE_NAMES, WEIGHTS_DIR_VARIABLE, resolve_weights

FULL = "vgg19_weights_tf_dim_ordering_tf_kernels.h5"  # Keras's full model, classifier included
NO_TOP = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh home folder, no KERAS_HOME and no weights folder: nothing found unless a test puts it there."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(WEIGHTS_DIR_VARIABLE, raising=False)
    return tmp_path / "home"


def placeholder(folder, name):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"")
    return folder / name


def weights_folder(monkeypatch, folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        placeholder(folder, name)
    monkeypatch.setenv(WEIGHTS_DIR_VARIABLE, str(folder))


def test_no_top_file_wins_over_the_full_model_that_sorts_first(home, tmp_path, monkeypatch):
    weights_folder(monkeypatch, tmp_path / "weights", FULL, NO_TOP, "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    assert resolve_weights("vgg19", "imagenet") == str(tmp_path / "weights" / NO_TOP)


def test_a_single_candidate_is_used_whatever_its_name(home, tmp_path, monkeypatch):
    weights_folder(monkeypatch, tmp_path / "weights", "vgg19_imagenet.h5", "vgg16_notop.h5", "vgg19_notes.txt")
    assert resolve_weights("vgg19", "imagenet") == str(tmp_path / "weights" / "vgg19_imagenet.h5")


@pytest.mark.parametrize(
    "names",
    [("vgg19_a_notop.h5", "vgg19_b_notop.h5"), ("vgg19_a.h5", "vgg19_b.h5"), (FULL, "vgg19_a_notop.h5", NO_TOP)],
)
def test_an_ambiguous_folder_names_every_candidate(home, tmp_path, monkeypatch, names):
    weights_folder(monkeypatch, tmp_path / "weights", *names)
    with pytest.raises(UserError, match="--weights PATH") as caught:
        resolve_weights("vgg19", "imagenet")
    message = str(caught.value)
    assert all(name in message for name in names) and "\n" not in message


def test_lookup_order_folder_then_keras_cache_then_download(home, tmp_path, monkeypatch):
    cached = placeholder(home / ".keras" / "models", NO_TOP)
    weights_folder(monkeypatch, tmp_path / "weights", "vgg19_mine_notop.h5")
    assert resolve_weights("vgg19", "imagenet") == str(tmp_path / "weights" / "vgg19_mine_notop.h5")
    (tmp_path / "weights" / "vgg19_mine_notop.h5").unlink()  # the folder is set but holds nothing for vgg19
    assert resolve_weights("vgg19", "imagenet") == str(cached)
    monkeypatch.delenv(WEIGHTS_DIR_VARIABLE)
    assert resolve_weights("vgg19", "imagenet") == str(cached)
    cached.unlink()
    assert resolve_weights("vgg19", "imagenet") == "imagenet"  # left to Keras's download


def test_keras_home_variable_moves_the_cache_as_it_does_for_keras(home, tmp_path, monkeypatch):
    placeholder(home / ".keras" / "models", NO_TOP)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "elsewhere"))
    assert resolve_weights("vgg19", "imagenet") == "imagenet"
    moved = placeholder(tmp_path / "elsewhere" / "models", NO_TOP)
    assert resolve_weights("vgg19", "imagenet") == str(moved)
    assert resolve_weights("vgg16", "imagenet") == "imagenet"  # each network has its own cache file


def test_a_weights_path_is_used_directly_and_none_is_random(home, tmp_path, monkeypatch):
    weights_folder(monkeypatch, tmp_path / "weights", NO_TOP)
    placeholder(home / ".keras" / "models", NO_TOP)
    mine = placeholder(tmp_path / "mine", "anything.h5")
    assert resolve_weights("vgg19", str(mine)) == str(mine)
    assert resolve_weights("vgg19", "none") is None
    with pytest.raises(UserError, match="does not exist"):
        resolve_weights("vgg19", str(tmp_path / "missing.h5"))


def test_download_failure_names_every_place_looked(home, tmp_path, monkeypatch):
    weights_folder(monkeypatch, tmp_path / "empty")
    message = weights.download_failed_message("vgg19", Exception("URL fetch failure"))
    assert str(tmp_path / "empty") in message and str(home / ".keras" / "models" / NO_TOP) in message
    assert "URL fetch failure" in message and f"--weights PATH/TO/{KERAS_CACHE_NAMES['vgg19']}" in message


def test_folder_with_full_model_and_no_top_file_loads(real_weights, tmp_path, monkeypatch):
    from keras_style.engine import network

    real = weights.weights_from_directory("vgg19", real_weights)
    (tmp_path / NO_TOP).symlink_to(real)
    (tmp_path / FULL).write_bytes(b"not weights: loading this one would fail")
    monkeypatch.setenv(WEIGHTS_DIR_VARIABLE, str(tmp_path))
    model = network.load_vgg("vgg19", resolve_weights("vgg19", "imagenet"))
    assert model.get_layer("block5_conv4").get_weights()[0].std() > 0
