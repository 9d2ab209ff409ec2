"""Procedural indoor scenes: exact ray-cast depth and shaded, textured RGB.

A scene is a box-shaped room (floor, ceiling, four walls at random distances) holding a few boxes,
spheres and vertical cylinders, seen by a pinhole camera with a small random pitch, yaw and roll.
Depth is the exact z-depth in metres of the nearest analytic hit (`raycast`). Colour comes from the hit
surface's own material, a 3-D procedural texture (plain, stripes, checker or smooth noise) and
Lambertian + Phong shading from a ceiling light, so colour edges follow depth discontinuities while
textures add edges that are not depth edges, as in real images. Invalid pixels (depth 0) imitate a
structured-light sensor: specular highlights, beyond range, grazing incidence and a few random blobs.

All randomness of a scene is drawn up front from its own generator (`draw_scene`), so a scene depends
only on its seed, not on which batch renders it; `render_batch` then works on many scenes at once,
which is what makes the default cache take about a second.
"""

from __future__ import annotations

import numpy as np

from g2core.data import raycast

# Part of the cache tag: bump it whenever the scenes change so that an old cache is not reused.
GENERATOR_VERSION = 1

_ROOM_PLANES = 6  # floor, ceiling, 4 walls; objects get material ids from 6 on
_KINDS = ("box", "sphere", "cylinder")
_PATTERNS = ("plain", "stripes", "checker", "noise")


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp, cr, sr = (
        np.cos(yaw),
        np.sin(yaw),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(roll),
        np.sin(roll),
    )
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return r_yaw @ r_pitch @ r_roll


def _materials(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    # Random hues pulled towards grey by a random amount: real rooms are mostly muted colours.
    grey = rng.uniform(0.2, 0.9, size=(n, 1))
    base = grey + rng.uniform(0.2, 1.0, size=(n, 1)) * (rng.uniform(0.1, 1.0, size=(n, 3)) - grey)
    axis = rng.normal(size=(n, 4, 3))
    return {
        "base": base,
        "second": np.minimum(
            np.maximum(base * rng.uniform(0.4, 1.3, (n, 3)) + rng.uniform(-0.15, 0.15, (n, 3)), 0.05), 1.0
        ),
        "pattern": rng.integers(0, len(_PATTERNS), size=n),
        "period": rng.uniform(0.08, 0.6, size=n),
        "axis": axis / np.linalg.norm(axis, axis=-1, keepdims=True),
        "phase": rng.uniform(0, 2 * np.pi, size=(n, 4)),
        # A random offset keeps the room's planes off the checker cell boundaries (no float flicker).
        "offset": rng.uniform(0, 1, size=(n, 3)),
        "glossy": rng.random(n) < 0.3,
    }


def draw_scene(rng: np.random.Generator, height: int, width: int) -> dict:
    """Every random choice of one scene: camera, room, objects, materials, light and sensor defects."""
    cam_h = rng.uniform(1.0, 1.7)
    lo = np.array([-rng.uniform(1.0, 4.0), -(rng.uniform(2.4, 3.5) - cam_h), -rng.uniform(0.5, 3.0)])
    hi = np.array([rng.uniform(1.0, 4.0), cam_h, rng.uniform(2.5, 9.0)])
    floor_y, ceil_y = hi[1], lo[1]
    objects = []
    # One block of uniforms for all objects: per-call overhead of the generator dominates otherwise.
    for u in rng.random((int(rng.integers(3, 10)), 10)):
        kind = int(np.searchsorted([0.45, 0.7], u[0]))  # 45% boxes, 25% spheres, 30% cylinders
        size = 0.15 + 0.55 * u[1]
        x = lo[0] + size + (hi[0] - lo[0] - 2 * size) * u[2]
        z = 1.0 + size + (hi[2] - 1.0 - 2 * size) * u[3]
        if np.hypot(x, z) < 1.8 * size + 0.4:  # keep the camera outside every object
            z += 1.8 * size + 0.4
        half = np.array([size, 0.1 + (0.5 * (floor_y - ceil_y) - 0.15) * u[4], 0.15 + 0.45 * u[5]])
        radius_y = half[1] if kind == 0 else size
        # Most things stand on the floor; some hang (shelves, lamps).
        hanging = u[6] >= 0.7
        cy = floor_y - radius_y - hanging * (floor_y - ceil_y - 2 * radius_y) * u[7]
        top = floor_y - (0.3 + (0.9 * (floor_y - ceil_y) - 0.3) * u[8])
        objects.append({"kind": kind, "center": np.array([x, cy, z]), "half": half, "radius": size,
                        "yaw": np.pi * (2 * u[9] - 1), "y0": top, "y1": floor_y})  # fmt: skip
    materials = _materials(rng, _ROOM_PLANES + len(objects))
    for wall in range(3, _ROOM_PLANES):  # walls usually share one paint
        if rng.random() < 0.6:
            for table in materials.values():
                table[wall] = table[2]
    n_blobs = rng.integers(0, 4)
    return {
        "rot": _rotation(rng.uniform(-0.4, 0.4), rng.uniform(-0.25, 0.25), rng.uniform(-0.08, 0.08)),
        "focal": 0.5 * width / np.tan(0.5 * np.deg2rad(rng.uniform(55.0, 75.0))),
        "lo": lo,
        "hi": hi,
        "objects": objects,
        "materials": materials,
        "light": np.array([rng.uniform(lo[0], hi[0]), lo[1] + 0.2, rng.uniform(0.5, hi[2])]),
        "sensor_range": rng.uniform(6.0, 12.0),
        "blobs": np.concatenate([rng.uniform(0, 1, (n_blobs, 2)), rng.uniform(0.01, 0.05, (n_blobs, 2))], 1),
        "noise": rng.normal(0.0, 0.008, size=(3, height * width)),
    }


def _rays(scenes: list[dict], height: int, width: int) -> np.ndarray:
    """World ray directions [3,S,N] with camera-frame z = 1, so each hit's t is its z-depth."""
    v, u = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    focal = np.array([s["focal"] for s in scenes])[:, None]
    d_cam = np.stack(
        [
            (u.ravel() - 0.5 * width) / focal,
            (v.ravel() - 0.5 * height) / focal,
            np.ones_like(focal * u.ravel()),
        ]
    )
    rot = np.stack([s["rot"] for s in scenes])  # [S,3,3]
    # Explicit sums, not matmul: results then do not depend on BLAS blocking, i.e. on the batch size.
    return (rot.transpose(1, 2, 0)[..., None] * d_cam[None]).sum(1)


def _rows(idx: np.ndarray, k: int) -> np.ndarray:
    """Each pixel's entry idx [S,N] of a per-scene table [S,K,...] as a row of the flat [S*K,...] table."""
    return idx + k * np.arange(idx.shape[0])[:, None]


def _read(tables: dict[str, np.ndarray], rows: np.ndarray, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    # np.take on the flat tables gives contiguous per-pixel arrays: several times faster than
    # take_along_axis, and reading only the pixels that need a key (rows[mask]) saves the rest.
    return {key: np.take(tables[key].reshape(-1, *tables[key].shape[2:]), rows, axis=0) for key in keys}


def _object_table(scenes: list[dict]) -> dict[str, np.ndarray]:
    """Objects as padded [S,K,...] arrays; `kind` is -1 in unused slots."""
    k = max(len(s["objects"]) for s in scenes)
    table = {
        "kind": np.full((len(scenes), k), -1, dtype=np.int64),
        "center": np.zeros((len(scenes), k, 3)),
        "half": np.ones((len(scenes), k, 3)),
        "radius": np.ones((len(scenes), k)),
        "yaw": np.zeros((len(scenes), k)),
        "y0": np.zeros((len(scenes), k)),
        "y1": np.ones((len(scenes), k)),
    }
    for i, scene in enumerate(scenes):
        for j, obj in enumerate(scene["objects"]):
            for key, column in table.items():
                column[i, j] = obj[key]
    return table


def _trace(scenes: list[dict], d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest hit over the room and every object: t [S,N], normal [3,S,N], material id [S,N]."""
    lo, hi = np.stack([s["lo"] for s in scenes]), np.stack([s["hi"] for s in scenes])
    t_room, n_room, plane = raycast.hit_room(d, lo, hi)
    obj = _object_table(scenes)
    t_obj = np.full(obj["kind"].shape + d.shape[-1:], np.inf)
    for kind in range(len(_KINDS)):
        # Only real objects of this kind, each against the rays of its own scene (no padded work).
        scene_idx, slot = np.nonzero(obj["kind"] == kind)
        if len(scene_idx) == 0:
            continue
        p = {key: column[scene_idx, slot] for key, column in obj.items()}
        rays = d[:, scene_idx]
        if kind == 0:
            t_obj[scene_idx, slot] = raycast.t_boxes(rays, p["center"], p["half"], p["yaw"])
        elif kind == 1:
            t_obj[scene_idx, slot] = raycast.t_spheres(rays, p["center"], p["radius"])
        else:
            t_obj[scene_idx, slot] = raycast.t_cylinders(rays, p["center"], p["radius"], p["y0"], p["y1"])
    slot, t = np.argmin(t_obj, axis=1), np.min(t_obj, axis=1)
    nearer = t < t_room

    # Normals for the winning object of each pixel, from its parameters, computed only where it wins.
    rows = _rows(slot, t_obj.shape[1])
    kind_px = _read(obj, rows, ("kind",))["kind"]
    normal = n_room.copy()
    for kind in range(len(_KINDS)):
        sel = nearer & (kind_px == kind)
        q, hit = _read(obj, rows[sel], ("center", "half", "radius", "yaw", "y0", "y1")), t[sel] * d[:, sel]
        if kind == 0:
            normal[:, sel] = raycast.normal_box(hit, q["center"], q["half"], q["yaw"])
        elif kind == 1:
            normal[:, sel] = raycast.normal_sphere(hit, q["center"], q["radius"])
        else:
            normal[:, sel] = raycast.normal_cylinder(hit, q["center"], q["radius"], q["y0"], q["y1"])
    return np.where(nearer, t, t_room), normal, np.where(nearer, _ROOM_PLANES + slot, plane)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Over the leading axis of [3,S,N] arrays: explicit terms beat a numpy reduction over 3 elements.
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _albedo(scenes: list[dict], material: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3-D procedural textures at the world points p [3,S,N], so no surface parametrisation is needed."""
    n_mat = max(len(s["materials"]["period"]) for s in scenes)
    tables = {
        key: np.stack(
            [np.resize(s["materials"][key], (n_mat, *s["materials"][key].shape[1:])) for s in scenes]
        )
        for key in scenes[0]["materials"]
    }
    rows = _rows(material, n_mat)
    mat = _read(tables, rows, ("pattern", "base", "second", "glossy"))
    pattern = mat["pattern"]
    s = np.zeros(material.shape, dtype=np.float32)  # 0: the base colour, 1: the second colour
    # Each pattern only on its own pixels; float32 because numpy's float64 sin is about 6x slower.
    waved = (pattern == 1) | (pattern == 3)
    q, pw = _read(tables, rows[waved], ("axis", "period", "phase")), p[:, waved]
    arg = sum(pw[c, :, None] * q["axis"][..., c] for c in range(3)) / q["period"][:, None]
    waves = np.sin((arg + q["phase"] / (2 * np.pi)).astype(np.float32) * np.float32(2 * np.pi))  # [M,4]
    s[waved] = np.where(pattern[waved] == 1, waves[:, 0] > 0, 0.5 + 0.5 * waves.mean(-1))
    sel = pattern == 2
    q = _read(tables, rows[sel], ("period", "offset"))
    s[sel] = sum(np.floor(p[c, sel] / q["period"] + q["offset"][:, c]) for c in range(3)) % 2
    base, second = np.moveaxis(mat["base"], -1, 0), np.moveaxis(mat["second"], -1, 0)
    return base * (1 - s) + second * s, mat["glossy"]


def render_batch(scenes: list[dict], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Scenes from `draw_scene` -> rgb uint8 [S,3,H,W] and depth float32 [S,H,W] in metres (0 = invalid)."""
    n_scenes = len(scenes)
    d = _rays(scenes, height, width)
    t, normal, material = _trace(scenes, d)
    p = t * d
    view = -d / np.sqrt(_dot(d, d))
    to_light = np.stack([s["light"] for s in scenes]).T[:, :, None] - p
    dist2 = _dot(to_light, to_light)
    to_light /= np.sqrt(dist2)
    n_dot_l = _dot(normal, to_light)
    diffuse = np.maximum(n_dot_l, 0.0) * 6.0 / (1.0 + dist2)
    spec = np.maximum(_dot(2 * n_dot_l * normal - to_light, view), 0.0) ** 40
    albedo, glossy = _albedo(scenes, material, p)
    colour = albedo * (0.25 + diffuse) + 0.8 * glossy * spec  # [3,S,N]
    exposure = np.percentile(colour.transpose(1, 0, 2).reshape(n_scenes, -1), 98, axis=1)
    colour = colour / np.maximum(exposure, 0.2)[:, None] + np.stack([s["noise"] for s in scenes], axis=1)
    rgb = np.clip(np.rint(colour * 255), 0, 255).astype(np.uint8).transpose(1, 0, 2)
    rgb = np.ascontiguousarray(rgb).reshape(n_scenes, 3, height, width)

    # Sensor holes: specular highlights, beyond range, grazing incidence, then a few random blobs.
    sensor_range = np.array([s["sensor_range"] for s in scenes])[:, None]
    invalid = (glossy & (spec > 0.6)) | (t > sensor_range) | (np.abs(_dot(normal, view)) < 0.08)
    depth = np.where(invalid, 0.0, t).astype(np.float32).reshape(n_scenes, height, width)
    scale = max(height, width)
    yy, xx = np.mgrid[0:height, 0:width] / scale
    for i, scene in enumerate(scenes):
        for cy, cx, ry, rx in scene["blobs"]:
            blob = ((yy - cy * height / scale) / ry) ** 2 + ((xx - cx * width / scale) / rx) ** 2
            depth[i][blob <= 1.0] = 0.0
    return rgb, depth
