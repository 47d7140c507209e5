"""Tiny datasets written in each real dataset's own on-disk layout, for loader and task tests."""

import json

import h5py
import numpy as np
from PIL import Image

from tasks.datasets.tinyimagenet import PAPER_CLASSES


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def flat(value, height=8, width=8):
    return np.full((height, width, 3), value, np.uint8)


def tiny_fixture(root, goldfish_train=7, goldfish_val=3):
    """The seven paper classes with 10 train images each, except goldfish: `goldfish_train` in
    train/ and `goldfish_val` more in the val split. Each image is flat, red = 20 × its number."""
    wnids = [*PAPER_CLASSES.values(), "n09999999"]
    root.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (root / "words.txt").write_text(
        "n00001740\tentity\n" + "n01443537\tgoldfish, Carassius auratus\n"
    )
    for name, wnid in PAPER_CLASSES.items():
        count = goldfish_train if name == "goldfish" else 10
        if name == "dog":
            count = 12  # more than needed: names sort as _0, _1, _10, _11, _2, ..., _9
        for k in range(count):
            save(root / "train" / wnid / "images" / f"{wnid}_{k}.JPEG", flat((20 * k, 0, 0)))
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    goldfish = PAPER_CLASSES["goldfish"]
    lines = []
    for k in range(goldfish_val + 2):
        wnid = goldfish if k < goldfish_val else PAPER_CLASSES["cat"]
        lines.append(f"val_{k}.JPEG\t{wnid}\t0\t0\t63\t63")
        image = np.full((8, 8), 200 + k, np.uint8) if k == 0 else flat((200 + k, 0, 0))
        save(root / "val" / "images" / f"val_{k}.JPEG", image)  # val_0 is grayscale
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def nyu_fixture(path, images=True):
    """Two 6×8 frames written as MATLAB v7.3 does: HDF5 after a 512-byte header, axes reversed."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2, 6, 8, 3), dtype=np.uint8)  # N×H×W×3 as MATLAB's H×W×3×N
    rgb[1, 0, 7] = [255, 0, 0]  # top-right corner red
    rgb[1, 5, 0] = [0, 0, 255]  # bottom-left corner blue
    depth = rng.uniform(0.5, 10, (2, 6, 8)).astype(np.float32)
    depth[1, 5, 7] = 3.25
    with h5py.File(path, "w", userblock_size=512) as file:
        if images:
            file["images"] = rgb.transpose(0, 3, 2, 1)  # (N, 3, W, H)
        file["depths"] = depth.transpose(0, 2, 1)  # (N, W, H)
    with open(path, "r+b") as file:
        file.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan 1 00:00:00 2012")
    return rgb, depth


def ade_fixture(root):
    """Three training images (20×40) and one validation image; labels: left 3, right 7, with a
    column of 0 (other) in the middle."""
    labels = np.full((20, 40), 3, np.uint8)
    labels[:, 20:] = 7
    labels[:, 19] = 0
    for split, prefix, count in (("training", "train", 3), ("validation", "val", 1)):
        for k in range(1, count + 1):
            stem = f"ADE_{prefix}_{k:08d}"
            save(root / "images" / split / f"{stem}.jpg", flat((10 * k, 100, 0), 20, 40))
            save(root / "annotations" / split / f"{stem}.png", labels)
    (root / "sceneCategories.txt").write_text(
        "ADE_train_00000001 bathroom\nADE_train_00000002 kitchen\n"
        "ADE_train_00000003 kitchen\nADE_val_00000001 bathroom\n"
    )
    return labels


def hypersim_frame(root, scene, cam, frame, depth=True, image=True):
    images = root / scene / "images"
    if image:
        path = images / f"scene_cam_{cam}_final_preview" / f"frame.{frame:04d}.tonemap.jpg"
        save(path, flat((50, 60, 70), 6, 8))
        save(path.with_name(f"frame.{frame:04d}.color.jpg"), flat(0, 6, 8))  # other previews
    if depth:
        meters = np.full((6, 8), 1.5, np.float16)
        meters[:3, :3] = np.nan  # invalid
        meters[5, 7] = 2.5
        folder = images / f"scene_cam_{cam}_geometry_hdf5"
        folder.mkdir(parents=True, exist_ok=True)
        with h5py.File(folder / f"frame.{frame:04d}.depth_meters.hdf5", "w") as file:
            file["dataset"] = meters


def write_image(path, height, width, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full((height, width, 3), value, np.uint8)
    array[:, : width // 2, 0] = 255  # left half red: shows how the crop went
    Image.fromarray(array).save(path)


def coco_fixture(root):
    write_image(root / "val2017" / "000000000001.jpg", 20, 30, 0)
    write_image(root / "val2017" / "000000000002.jpg", 20, 30, 0)
    categories = [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]
    images = [
        {"id": 1, "file_name": "000000000001.jpg", "height": 20, "width": 30},
        {"id": 2, "file_name": "000000000002.jpg", "height": 20, "width": 30},
    ]
    square = [[2, 2, 12, 2, 12, 12, 2, 12]]  # a 10×10 polygon
    instances = {
        "images": images,
        "categories": categories,
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 18, "segmentation": square,
             "area": 100, "bbox": [2, 2, 10, 10], "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 1, "segmentation": square,
             "area": 100, "bbox": [2, 2, 10, 10], "iscrowd": 0},
        ],
    }  # fmt: skip
    keypoints = [0.0] * 51
    keypoints[0:3] = [5, 6, 2]  # nose
    keypoints[15:18] = [4, 9, 1]  # left shoulder
    people = {
        "images": images,
        "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}],
        "annotations": [
            {"id": 3, "image_id": 2, "category_id": 1, "keypoints": keypoints, "num_keypoints": 2,
             "segmentation": square, "area": 100, "bbox": [2, 2, 10, 10], "iscrowd": 0},
        ],
    }  # fmt: skip
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(instances))
    (root / "annotations" / "person_keypoints_val2017.json").write_text(json.dumps(people))


def photo_folder(root, count, height=40, width=60):
    """DreamBooth layout: subject folders of distinct noise photos."""
    rng = np.random.default_rng(0)
    for k in range(count):
        save(
            root / f"subject{k % 2}" / f"{k:02d}.png",
            rng.integers(0, 256, (height, width, 3), np.uint8),
        )


def coco_people(root, count):
    """COCO 2017 val layout with `count` 40×60 images, each with one dog (a 10×10 square at
    (20, 10)) and one person with all 17 keypoints annotated at known places."""
    images, instances, people = [], [], []
    points = np.array(
        [[30, 8], [29, 7], [31, 7], [28, 8], [32, 8], [26, 13], [34, 13], [24, 18], [36, 18],
         [23, 23], [37, 23], [27, 24], [33, 24], [27, 30], [33, 30], [27, 36], [33, 36]],
        np.float64,
    )  # fmt: skip
    keypoints = np.concatenate([points, np.full((17, 1), 2.0)], axis=1).ravel().tolist()
    square = [[20, 10, 30, 10, 30, 20, 20, 20]]
    for k in range(1, count + 1):
        name = f"{k:012d}.jpg"
        save(root / "val2017" / name, np.full((40, 60, 3), 10 * k, np.uint8))
        images.append({"id": k, "file_name": name, "height": 40, "width": 60})
        instances.append({"id": k, "image_id": k, "category_id": 18, "segmentation": square,
                          "area": 100, "bbox": [20, 10, 10, 10], "iscrowd": 0})  # fmt: skip
        people.append({"id": 100 + k, "image_id": k, "category_id": 1, "keypoints": keypoints,
                       "num_keypoints": 17, "segmentation": square, "area": 100,
                       "bbox": [23, 7, 14, 29], "iscrowd": 0})  # fmt: skip
    categories = [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps({"images": images, "categories": categories, "annotations": instances})
    )
    (root / "annotations" / "person_keypoints_val2017.json").write_text(
        json.dumps({"images": images, "categories": categories[:1], "annotations": people})
    )
    return points
