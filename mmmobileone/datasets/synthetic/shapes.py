"""Drawing shared by the synthetic datasets: shapes, backgrounds, colours and scenes.

Two kinds of pictures are drawn, both with exact ground truth:

* shape scenes (classification and detection): filled shapes of the :data:`SHAPES` vocabulary,
  each in the hue of its class, on a textured background; every mask is known to the pixel, so
  a box is the exact extent of the drawn pixels (:func:`draw_shape_mask`, :func:`shape_scene`);
* rectangle scenes (semantic segmentation): axis-aligned rectangles, one fixed colour per class
  label, on dark noise, with the label map painted alongside (:func:`rectangle_scene`).

Only numpy and OpenCV are used. Images are BGR ``uint8`` arrays (OpenCV's order).
"""
import math
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from ...errors import ConfigError

Box = Tuple[int, int, int, int]  # x0, y0, x1, y1 with x1, y1 exclusive (pixel edges)

#: The shape vocabulary, each with its default hue (OpenCV hue units, 0-179).
SHAPES: Dict[str, int] = {
    'octagon': 0,
    'half_disc': 140,
    'ellipse': 60,
    'disc': 12,
    'diamond': 90,
    'triangle': 28,
    'ring': 165,
    'rectangle': 115,
}

#: Random variation of a class hue in a drawn object (+-, OpenCV hue units).
HUE_JITTER = 8


def _polygon(center: Tuple[float, float], radius: float, sides: int, angle: float,
             scale: Tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    thetas = angle + 2 * math.pi * np.arange(sides) / sides
    xs = center[0] + radius * scale[0] * np.cos(thetas)
    ys = center[1] + radius * scale[1] * np.sin(thetas)
    return np.round(np.stack([xs, ys], axis=1)).astype(np.int32)


def _rotate(offsets: np.ndarray, center: Tuple[float, float], angle: float) -> np.ndarray:
    """Integer points ``center + R(angle) @ offset`` for offsets from the centre."""
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.round(offsets @ rot.T + center).astype(np.int32)


def draw_shape_mask(shape: str, height: int, width: int, center: Tuple[float, float],
                    radius: float, rng: np.random.Generator) -> np.ndarray:
    """Draw one filled shape of circumradius ``radius`` at a random rotation.

    Args:
        shape: A name of :data:`SHAPES`.
        height: Mask height in pixels.
        width: Mask width in pixels.
        center: ``(x, y)`` of the shape's centre.
        radius: Circumradius in pixels.
        rng: Source of the rotation (and of the aspect of ellipses and rectangles).

    Returns:
        A ``uint8`` mask of shape ``(height, width)``: 1 on the shape, 0 elsewhere.

    Raises:
        ValueError: If ``shape`` is not in :data:`SHAPES`.
    """
    mask = np.zeros((height, width), np.uint8)
    cx, cy = center
    angle = float(rng.uniform(0, 2 * math.pi))
    c = (int(round(cx)), int(round(cy)))
    r = int(round(radius))
    if shape == 'disc':
        cv2.circle(mask, c, r, 1, -1)
    elif shape == 'ring':
        cv2.circle(mask, c, r, 1, -1)
        cv2.circle(mask, c, max(1, int(round(radius * 0.45))), 0, -1)
    elif shape == 'ellipse':
        axes = (r, max(2, int(round(radius * rng.uniform(0.45, 0.65)))))
        cv2.ellipse(mask, c, axes, math.degrees(angle), 0, 360, 1, -1)
    elif shape == 'half_disc':
        cv2.ellipse(mask, c, (r, r), math.degrees(angle), 0, 180, 1, -1)
    elif shape == 'octagon':
        cv2.fillPoly(mask, [_polygon(center, radius, 8, angle)], 1)
    elif shape == 'triangle':
        cv2.fillPoly(mask, [_polygon(center, radius, 3, angle)], 1)
    elif shape == 'diamond':
        points = _polygon(center, radius, 4, angle, scale=(1.0, 0.6))
        cv2.fillPoly(mask, [_rotate(points - np.asarray(center), center, angle)], 1)
    elif shape == 'rectangle':
        aspect = rng.uniform(0.5, 0.8)
        half = np.array([[-1, -aspect], [1, -aspect], [1, aspect], [-1, aspect]]) * radius
        cv2.fillPoly(mask, [_rotate(half, center, angle)], 1)
    else:
        raise ConfigError(f'unknown shape {shape!r}; known: {sorted(SHAPES)}')
    return mask


def textured_background(height: int, width: int, rng: np.random.Generator,
                        saturation: float = 1.0) -> np.ndarray:
    """A BGR ``uint8`` background: smooth colour noise, stripes or a checkerboard, plus noise.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        rng: Source of the texture.
        saturation: Scales each pixel's distance from its grey level (below 1: paler colours,
            so that the saturated :func:`hue_colour` objects stand out by colour alone).

    Returns:
        An array of shape ``(height, width, 3)``.
    """
    kind = rng.integers(3)
    base = rng.uniform(60, 200, size=3)
    if kind == 0:
        cells = rng.integers(3, 9)
        grid = rng.uniform(-60, 60, size=(cells, cells, 3)).astype(np.float32)
        image = base + cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    else:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        period = rng.uniform(8, 40)
        if kind == 1:
            theta = rng.uniform(0, math.pi)
            phase = (xs * math.cos(theta) + ys * math.sin(theta)) / period
            pattern = np.sin(2 * math.pi * phase)
        else:
            pattern = np.sign(np.sin(math.pi * xs / period) * np.sin(math.pi * ys / period))
        other = rng.uniform(60, 200, size=3)
        image = base + (other - base) * (0.5 + 0.5 * pattern[..., None]) * 0.6
    image = image + rng.normal(0, 6, size=(height, width, 3))
    if saturation != 1.0:
        grey = image.mean(axis=2, keepdims=True)
        image = grey + saturation * (image - grey)
    return np.clip(image, 0, 255).astype(np.uint8)


def hue_colour(hue: int, rng: np.random.Generator) -> Tuple[int, int, int]:
    """A saturated, bright BGR colour near ``hue`` (within :data:`HUE_JITTER`).

    Args:
        hue: OpenCV hue, 0-179.
        rng: Source of the jitter of hue, saturation (170-255) and value (150-255).

    Returns:
        ``(b, g, r)``.
    """
    hsv = np.array([[[(hue + rng.integers(-HUE_JITTER, HUE_JITTER + 1)) % 180,
                      rng.integers(170, 256), rng.integers(150, 256)]]], np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def label_colour(label: int) -> np.ndarray:
    """The fixed BGR colour of segmentation label ``label`` (the same in every image).

    Args:
        label: Class label.

    Returns:
        A ``uint8`` array of 3 values.
    """
    rng = np.random.default_rng(1000 + label)
    return rng.integers(0, 256, size=3).astype(np.uint8)


def mask_box(mask: np.ndarray) -> Box:
    """The pixel extent of a non-empty mask as ``(x0, y0, x1, y1)``, ``x1``/``y1`` exclusive.

    Args:
        mask: A 2-d array, non-zero on the object.

    Returns:
        The box whose edges enclose exactly the non-zero pixels' rows and columns.
    """
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def mask_polygons(mask: np.ndarray) -> List[List[float]]:
    """The outer contours of a ``uint8`` mask as COCO polygons ``[[x0, y0, x1, y1, ...], ...]``.

    Args:
        mask: A 0/1 ``uint8`` mask.

    Returns:
        One flat coordinate list per outer contour of at least 3 points (holes are not listed).
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def _disjoint(box: Box, taken: Sequence[Box], gap: int = 2) -> bool:
    return all(box[2] + gap <= t[0] or t[2] + gap <= box[0] or box[3] + gap <= t[1]
               or t[3] + gap <= box[1] for t in taken)


def shape_scene(height: int, width: int, classes: Sequence[Tuple[str, int]], max_objects: int,
                object_size: Tuple[float, float], rng: np.random.Generator
                ) -> Tuple[np.ndarray, List[Dict]]:
    """One image of 1 to ``max_objects`` non-overlapping shapes fully inside it.

    Each object picks a class at random, and up to 20 random placements until its box keeps a
    2-pixel gap to the boxes already placed (an object that does not fit is left out; the
    first one always fits). Pixel noise is added last, over the whole image.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        classes: ``(shape, hue)`` per class; objects carry the index into it as ``label``.
        max_objects: Most objects per image.
        object_size: Range of an object's circumscribed diameter, as a fraction of the shorter
            image side.
        rng: Source of everything random.

    Returns:
        ``(image, objects)``: a BGR ``uint8`` image and one dict per object with ``label``,
        ``mask`` (0/1 ``uint8``), ``box`` (:func:`mask_box` of the mask) and ``area`` (pixels).
    """
    image = textured_background(height, width, rng)
    taken: List[Box] = []
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(len(classes)))
        shape, hue = classes[label]
        for _attempt in range(20):
            radius = 0.5 * min(height, width) * rng.uniform(*object_size)
            center = (rng.uniform(radius + 1, width - radius - 1),
                      rng.uniform(radius + 1, height - radius - 1))
            mask = draw_shape_mask(shape, height, width, center, radius, rng)
            if mask.sum() < 16:
                continue
            box = mask_box(mask)
            if _disjoint(box, taken):
                break
        else:
            continue
        taken.append(box)
        image[mask.astype(bool)] = hue_colour(hue, rng)
        objects.append(dict(label=label, mask=mask, box=box, area=int(mask.sum())))
    noisy = image.astype(np.float32) + rng.normal(0, 4, size=image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), objects


def rectangle_scene(height: int, width: int, labels: Sequence[int], num_objects: int,
                    rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """An image of ``num_objects`` rectangles in their labels' colours, and its label map.

    Rectangles are 1/4 to 1/2 of the image side in each direction and may overlap (the later
    one is on top, in the image and in the label map alike).

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        labels: Labels to draw from (at random, with repetition).
        num_objects: Number of rectangles.
        rng: Source of everything random.

    Returns:
        ``(image, label_map)``: a BGR ``uint8`` image (dark noise, rectangles in
        :func:`label_colour`) and a ``uint8`` label map, 0 where no rectangle is.
    """
    image = rng.integers(0, 40, size=(height, width, 3)).astype(np.uint8)
    seg = np.zeros((height, width), dtype=np.uint8)
    for _ in range(num_objects):
        label = int(rng.choice(labels))
        h = int(rng.integers(height // 4, height // 2 + 1))
        w = int(rng.integers(width // 4, width // 2 + 1))
        y = int(rng.integers(0, height - h + 1))
        x = int(rng.integers(0, width - w + 1))
        image[y:y + h, x:x + w] = label_colour(label)
        seg[y:y + h, x:x + w] = label
    return image, seg
