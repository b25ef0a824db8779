import pytest
import torch
from mnist_fixtures import TEST_COUNT, TRAIN_COUNT, mnist_data_dir, write_tiny_mnist  # noqa: F401

import mnist.data as data
from mnist.config import MnistError
from mnist.data import RAW_FILES, load_mnist, random_affine, resolve_root, train_batches


def test_loads_tiny_idx_files_through_torchvision(mnist_data_dir):
    tensors = load_mnist(mnist_data_dir, torch.device("cpu"), download=False)
    assert tensors.train_images.shape == (TRAIN_COUNT, 1, 28, 28)
    assert tensors.train_images.dtype == torch.uint8
    assert tensors.test_labels.shape == (TEST_COUNT,)
    assert 0 <= int(tensors.train_labels.min()) and int(tensors.train_labels.max()) <= 9


@pytest.mark.parametrize("given", ["root", "root/MNIST", "root/MNIST/raw"])
def test_data_dir_may_name_the_root_or_the_folders_below(mnist_data_dir, given):
    path = mnist_data_dir / given.removeprefix("root").lstrip("/")
    assert resolve_root(path) == mnist_data_dir


def test_missing_files_give_one_line_saying_which_and_where(tmp_path):
    with pytest.raises(MnistError) as error:
        load_mnist(tmp_path, torch.device("cpu"), download=False)
    message = str(error.value)
    assert "\n" not in message
    assert all(name in message for name in RAW_FILES)
    assert str(tmp_path / "MNIST" / "raw") in message and "--data-dir" in message


def test_failed_download_is_one_line_too(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://...")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(MnistError) as error:
        load_mnist(tmp_path, torch.device("cpu"), download=True)
    message = str(error.value)
    assert "\n" not in message
    assert "download failed" in message and "--data-dir" in message


def test_truncated_file_is_reported_with_its_name(tmp_path):
    root = write_tiny_mnist(tmp_path)
    images = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(MnistError, match="t10k-images-idx3-ubyte is truncated or corrupt"):
        load_mnist(root, torch.device("cpu"), download=False)


def test_foreign_file_is_reported(tmp_path):
    root = write_tiny_mnist(tmp_path)
    (root / "MNIST" / "raw" / "train-labels-idx1-ubyte").write_text("<html>not found</html>")
    with pytest.raises(MnistError, match="not an MNIST IDX file"):
        load_mnist(root, torch.device("cpu"), download=False)


def test_affine_with_zero_ranges_is_the_identity():
    images = torch.rand(5, 1, 28, 28)
    same = random_affine(images, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0)
    torch.testing.assert_close(same, images, rtol=1e-5, atol=1e-5)


def test_affine_moves_each_image_by_its_own_amount_and_is_seeded():
    images = torch.zeros(4, 1, 28, 28)
    images[:, :, 10:18, 10:18] = 1
    draw = lambda seed: random_affine(images, torch.Generator().manual_seed(seed), 15, 0.1, 0.1)  # noqa: E731
    first = draw(0)
    torch.testing.assert_close(first, draw(0))
    assert not torch.equal(first[0], first[1])
    assert not torch.equal(first, draw(1))


def test_batches_cover_the_epoch_once_in_shuffled_order():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 28, 28).contiguous()
    labels = torch.arange(10)
    augment = dict(max_rotation_degrees=0.0, max_scale_change=0.0, max_translation=0.0)
    batches = list(train_batches(images, labels, 4, torch.Generator().manual_seed(0), augment))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    for x, y in batches:  # images stay with their labels
        torch.testing.assert_close(x[:, 0, 14, 14] * 255, y.float(), rtol=0, atol=1e-3)


def test_batches_without_augmentation_are_the_images_as_they_are():
    images = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(6)
    for x, y in train_batches(images, labels, 4, torch.Generator().manual_seed(0), None):
        assert torch.equal(x, images[y].float() / 255)


def test_default_data_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setattr("sheetgen.files.sys.platform", "linux")
    monkeypatch.delenv("SHEETGEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.default_data_dir() == tmp_path / "sheetgen" / "mnist"


def test_sheetgen_cache_dir_wins_over_the_platforms_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("SHEETGEN_CACHE_DIR", str(tmp_path / "mine"))
    assert data.default_data_dir() == tmp_path / "mine" / "mnist"
