"""TinyImageNet, NYUv2, ADE20K and Hypersim loaders on tiny fixtures written in each dataset's own
on-disk format."""

import pickle

import h5py
import numpy as np
import pytest

from tasks.datasets import DatasetError, fit
from tasks.datasets.ade20k import ADE20K, PALETTE, colorize
from tasks.datasets.hypersim import Hypersim
from tasks.datasets.nyuv2 import NYUv2
from tasks.datasets.tinyimagenet import TinyImageNet
from tests.tasks.fixtures import ade_fixture, flat, hypersim_frame, nyu_fixture, save, tiny_fixture

# --- TinyImageNet -------------------------------------------------------------------------------


def test_tinyimagenet_paper_classes_split_80_20(tmp_path):
    tiny_fixture(tmp_path / "tiny-imagenet-200")
    data = TinyImageNet(tmp_path / "tiny-imagenet-200", per_class=10)
    assert data.class_names == [
        "bridge", "car", "cat", "coffee", "dog", "goldfish", "teddy bear"
    ]  # fmt: skip
    for name in data.class_names:
        train, val = data.images(name, "train"), data.images(name, "val")
        assert len(train) == 8 and len(val) == 2
        assert not set(data.files[name][:8]) & set(data.files[name][8:])
        assert all(i.shape == (8, 8, 3) and i.dtype == np.uint8 for i in train + val)
    car = data.images("car", "train")
    assert [int(round(i[..., 0].mean() / 20)) for i in car] == list(range(8))
    dog = [path.name for path in data.files["dog"]]  # the first 10 in sorted filename order
    assert dog == [f"n02099601_{k}.JPEG" for k in (0, 1, 10, 11, 2, 3, 4, 5, 6, 7)]
    assert data.phrase("n01443537") == "goldfish, Carassius auratus"
    assert data.images("car", "train")[0] is car[0]  # cached per file


def test_tinyimagenet_fills_from_val_and_converts_grayscale(tmp_path):
    tiny_fixture(tmp_path)
    data = TinyImageNet(tmp_path, per_class=10)
    files = data.files["goldfish"]
    assert [p.name for p in files[7:]] == ["val_0.JPEG", "val_1.JPEG", "val_2.JPEG"]
    assert [p.parent.name for p in files[:7]] == ["images"] * 7
    train, val = data.images("goldfish", "train"), data.images("goldfish", "val")
    assert len(train) == 8 and len(val) == 2
    assert abs(int(train[7][0, 0, 0]) - 200) <= 2 and train[7].shape == (8, 8, 3)  # was gray
    assert abs(int(val[1][..., 0].mean()) - 202) <= 3


def test_tinyimagenet_bad_arguments_and_datasets_are_clear(tmp_path):
    with pytest.raises(DatasetError, match="nowhere' does not exist; expected the tiny-imagenet"):
        TinyImageNet(tmp_path / "nowhere")
    tiny_fixture(tmp_path / "few", goldfish_val=1)
    with pytest.raises(
        DatasetError, match=r"class 'goldfish' \(n01443537\) has 8 images in .*few.*expected 10"
    ):
        TinyImageNet(tmp_path / "few", per_class=10)
    tiny_fixture(tmp_path / "ok")
    with pytest.raises(
        DatasetError, match=r"ok/wnids.txt' does not list 'n00000001' \(class 'unicorn'\)"
    ):
        TinyImageNet(tmp_path / "ok", classes={"unicorn": "n00000001"})
    data = TinyImageNet(tmp_path / "ok", per_class=10)
    with pytest.raises(ValueError, match=r"unknown split 'test'; expected one of \['train', 'val'"):
        data.images("cat", "test")
    with pytest.raises(ValueError, match="unknown class 'horse'; expected one of .*'teddy bear'"):
        data.images("horse", "train")
    with pytest.raises(DatasetError, match="words.txt' has no line for 'n04399382'"):
        data.phrase("n04399382")


# --- NYUv2 --------------------------------------------------------------------------------------


def test_nyuv2_transposes_matlab_column_major_back(tmp_path):
    rgb, depth = nyu_fixture(tmp_path / "nyu_depth_v2_labeled.mat")
    with h5py.File(tmp_path / "nyu_depth_v2_labeled.mat") as file:
        assert file["images"].shape == (2, 3, 8, 6) and file["depths"].shape == (2, 8, 6)
    data = NYUv2(tmp_path)  # the folder holding the file
    assert len(data) == 2
    image, meters = data.sample(1)
    assert image.shape == (6, 8, 3) and image.dtype == np.uint8
    assert meters.shape == (6, 8) and meters.dtype == np.float32
    assert image[0, 7].tolist() == [255, 0, 0] and image[5, 0].tolist() == [0, 0, 255]
    assert meters[5, 7] == np.float32(3.25)
    assert np.array_equal(image, rgb[1]) and np.array_equal(meters, depth[1])
    again = pickle.loads(pickle.dumps(data))  # the open handle is not pickled
    assert np.array_equal(again.sample(0)[0], rgb[0])
    data.close()
    again.close()
    with pytest.raises(IndexError):
        data.sample(2)


def test_nyuv2_missing_or_malformed_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="nyu_depth_v2_labeled.mat' does not exist; expected a"):
        NYUv2(tmp_path)
    old = tmp_path / "old.mat"
    old.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(
        DatasetError, match="old.mat' is not HDF5; expected a MATLAB v7.3 .mat with 'images' and"
    ):
        NYUv2(old)
    nyu_fixture(tmp_path / "depths_only.mat", images=False)
    with pytest.raises(DatasetError, match="depths_only.mat' lacks 'images' or 'depths'"):
        NYUv2(tmp_path / "depths_only.mat")


# --- ADE20K -------------------------------------------------------------------------------------


def test_ade20k_pairs_images_with_annotations_and_resizes_labels_nearest(tmp_path):
    labels = ade_fixture(tmp_path)
    data = ADE20K(tmp_path)
    assert len(data) == 3 and len(ADE20K(tmp_path, split="validation")) == 1
    assert [(i.stem, a.stem) for i, a in zip(data.images, data.annotations, strict=True)] == [
        (f"ADE_train_{k:08d}",) * 2 for k in (1, 2, 3)
    ]
    image, exact = data.sample(1, (20, 20))  # the central 20×20: no resampling
    assert image.shape == (20, 20, 3) and image.dtype == np.uint8
    assert exact.dtype == np.uint8 and np.array_equal(exact, labels[:, 10:30])
    image, small = data.sample(1, (7, 9))
    assert image.shape == (7, 9, 3) and small.shape == (7, 9)
    assert set(np.unique(small)) <= {0, 3, 7} and {3, 7} <= set(np.unique(small))
    assert abs(int(image[..., 1].mean()) - 100) <= 3


def test_ade20k_scene_filter(tmp_path):
    ade_fixture(tmp_path)
    kitchen = ADE20K(tmp_path, scene="kitchen")
    assert [p.stem for p in kitchen.images] == ["ADE_train_00000002", "ADE_train_00000003"]
    assert [p.stem for p in kitchen.annotations] == ["ADE_train_00000002", "ADE_train_00000003"]
    with pytest.raises(
        DatasetError, match="has scene 'garage' in .*; scenes there include: kitchen, bathroom"
    ):
        ADE20K(tmp_path, scene="garage")
    (tmp_path / "sceneCategories.txt").unlink()
    assert len(ADE20K(tmp_path)) == 3  # only needed to filter
    with pytest.raises(DatasetError, match="sceneCategories.txt' does not exist; expected ADE20K"):
        ADE20K(tmp_path, scene="kitchen")


def test_ade20k_missing_or_malformed_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="nowhere' does not exist; expected the ADEChallenge"):
        ADE20K(tmp_path / "nowhere")
    ade_fixture(tmp_path)
    (tmp_path / "annotations" / "training" / "ADE_train_00000002.png").unlink()
    with pytest.raises(
        DatasetError, match="ADE_train_00000002.jpg' has no annotation; expected .*00000002.png"
    ):
        ADE20K(tmp_path)
    with pytest.raises(ValueError, match="unknown split 'test'"):
        ADE20K(tmp_path, split="test")
    save(tmp_path / "annotations" / "validation" / "ADE_val_00000001.png", flat(1, 20, 40))
    with pytest.raises(DatasetError, match="ADE_val_00000001.png' is a RGB image; expected a"):
        ADE20K(tmp_path, split="validation").sample(0, (8, 8))


def test_ade20k_palette_and_colorize():
    assert PALETTE.shape == (151, 3) and PALETTE.dtype == np.uint8
    assert PALETTE[:6].tolist() == [
        [0, 0, 0], [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3]
    ]  # fmt: skip
    assert PALETTE[150].tolist() == [92, 0, 255]
    assert len({tuple(row) for row in PALETTE.tolist()}) >= 148  # a few colours repeat upstream
    colors = colorize(np.array([[0, 1], [150, 3]], np.uint8))
    assert colors.shape == (2, 2, 3) and colors.dtype == np.uint8
    assert colors[1, 0].tolist() == [92, 0, 255] and colors[1, 1].tolist() == [6, 230, 230]
    with pytest.raises(ValueError, match="label 151"):
        colorize(np.array([[151]], np.uint8))


# --- Hypersim -----------------------------------------------------------------------------------


def test_hypersim_pairs_tonemap_with_depth_and_skips_incomplete_frames(tmp_path):
    hypersim_frame(tmp_path, "ai_001_001", "00", 0)
    hypersim_frame(tmp_path, "ai_001_001", "00", 1, depth=False)  # skipped: no depth
    hypersim_frame(tmp_path, "ai_001_001", "00", 3, image=False)  # skipped: no image
    hypersim_frame(tmp_path, "ai_001_002", "01", 2)
    data = Hypersim(tmp_path)
    assert len(data) == 2
    assert [(i.name, d.name) for i, d in data.frames] == [
        ("frame.0000.tonemap.jpg", "frame.0000.depth_meters.hdf5"),
        ("frame.0002.tonemap.jpg", "frame.0002.depth_meters.hdf5"),
    ]
    assert data.frames[1][1].parent.name == "scene_cam_01_geometry_hdf5"
    image, depth = data.sample(1, (6, 8))
    assert image.shape == (6, 8, 3) and image.dtype == np.uint8
    assert depth.shape == (6, 8) and depth.dtype == np.float32
    assert depth[5, 7] == 2.5 and depth[3, 3] == 1.5 and np.isnan(depth[:3, :3]).all()
    image, depth = data.sample(0, (3, 3))  # center 6×6 of 6×8, then nearest
    assert image.shape == (3, 3, 3) and depth.shape == (3, 3)
    assert np.isnan(depth).any() and set(depth[~np.isnan(depth)].tolist()) <= {1.5, 2.5}


def test_hypersim_missing_or_malformed_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="nowhere' does not exist; expected a folder of Hyper"):
        Hypersim(tmp_path / "nowhere")
    hypersim_frame(tmp_path, "ai_001_001", "00", 0, depth=False)
    with pytest.raises(
        DatasetError,
        match="has no frames with both image and depth; expected <scene>/images/scene_cam_<XX>",
    ):
        Hypersim(tmp_path)
    depth = tmp_path / "ai_001_001/images/scene_cam_00_geometry_hdf5/frame.0000.depth_meters.hdf5"
    depth.parent.mkdir(parents=True)
    with h5py.File(depth, "w") as file:
        file["depth"] = np.zeros((6, 8), np.float32)
    with pytest.raises(DatasetError, match="depth_meters.hdf5' lacks a 2-D 'dataset'"):
        Hypersim(tmp_path).sample(0, (4, 4))
    depth.write_bytes(b"not hdf5")
    with pytest.raises(DatasetError, match="depth_meters.hdf5' is not readable HDF5"):
        Hypersim(tmp_path).sample(0, (4, 4))


# --- fit ---------------------------------------------------------------------------------


def test_fit_crops_to_aspect_then_resizes_each_kind():
    image = np.zeros((10, 20, 3), np.uint8)
    image[:, :10, 0] = 255  # left half red
    fitted = fit(image, (4, 4))  # the central 10×10 square
    assert fitted.shape == (4, 4, 3) and fitted.dtype == np.uint8
    assert fitted[:, 0, 0].min() > 200 and fitted[:, -1, 0].max() < 60
    labels = np.arange(200, dtype=np.uint8).reshape(10, 20)
    assert np.array_equal(fit(labels, (10, 10), nearest=True), labels[:, 5:15])
    assert set(fit(labels, (3, 5), nearest=True).ravel()) <= set(labels.ravel())
    depth = np.linspace(1, 2, 60, dtype=np.float64).reshape(6, 10)
    out = fit(depth, (3, 5), nearest=True)
    assert out.dtype == np.float32 and set(out.ravel()) <= set(depth.astype(np.float32).ravel())
    with pytest.raises(ValueError, match="fit takes"):
        fit(np.zeros((4, 4), np.int64), (2, 2))
