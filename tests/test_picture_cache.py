"""The network pictures kept in the user's cache: a workbook built from the cache is byte for
byte the one built from a fresh drawing, and an entry that is damaged, foreign or unreadable
is drawn again rather than used."""

import json
import os
import subprocess
import sys

import pytest

from sheetgen.workbook import picture_cache
from sheetgen.workbook.diagram import draw_png, network_picture, network_shape
from sheetgen.workbook.spec import load_spec
from sheetgen.workbook.writer import build_workbook
from tests.conftest import ROOT


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder of the test's own."""
    monkeypatch.setenv("SHEETGEN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "pictures"


@pytest.fixture(scope="module")
def seed_drawn():
    return draw_png(network_shape(load_spec()))


def entries(cache):
    return sorted(cache.glob("*.json")) if cache.is_dir() else []


def test_a_network_drawn_once_is_read_back_as_drawn(cache, seed_drawn):
    spec = load_spec()
    first = network_picture(spec)
    assert [p.stem for p in entries(cache)] == [picture_cache.key(network_shape(spec).to_json())]
    again = network_picture(spec)
    assert again == first
    assert first.png == seed_drawn.png


@pytest.mark.parametrize(
    "change, same",
    [
        (lambda s: s.with_training([0.8], 7), True),
        (lambda s: s.with_training(iterations=3), True),
        (lambda s: _changed(s, lambda d: d.update(name="other", description="another")), True),
        (lambda s: _changed(s, lambda d: d["layers"][0].update(weights=[[1, 2], [3, 4]])), True),
        (lambda s: _changed(s, lambda d: d["data"].update(inputs=[[0.9, 0.1]])), True),
        (lambda s: _changed(s, lambda d: d["layers"][0].update(name="z")), False),
        (lambda s: _changed(s, lambda d: d["layers"][0].update(activation="tanh")), False),
        (lambda s: _changed(s, lambda d: d["layers"][0].update(bias=[0.35, 0.35])), False),
        (lambda s: _changed(s, lambda d: d.update(reduction="mean")), False),
    ],
    ids=[
        "learning rates",
        "iterations",
        "name and description",
        "weights",
        "inputs",
        "a layer's name",
        "an activation",
        "a bias",
        "the reduction",
    ],
)
def test_the_key_is_the_networks_shape(change, same):
    spec = load_spec()
    key = picture_cache.key(network_shape(spec).to_json())
    other = picture_cache.key(network_shape(change(spec)).to_json())
    assert (other == key) is same


def test_biases_trained_fixed_and_shared_are_three_shapes():
    def with_bias(bias, **more):
        return _changed(load_spec(), lambda d: d["layers"][1].update(bias=bias, **more))

    specs = [with_bias([0.6, 0.6]), with_bias([0.6, 0.6], train_bias=False), with_bias([0.6])]
    assert len({picture_cache.key(network_shape(s).to_json()) for s in specs}) == 3


def _changed(spec, edit):
    from sheetgen.workbook.spec import spec_from_dict

    data = spec.to_dict()
    edit(data)
    return spec_from_dict(data)


def _damage(kind, path, key):
    entry = json.loads(path.read_text())
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "not JSON":
        path.write_text("not json")
    elif kind == "a JSON list":
        path.write_text("[1, 2]")
    elif kind == "another PNG":
        entry["png"] = entry["png"][:-8] + "AAAAAAA="
        path.write_text(json.dumps(entry))
    elif kind == "another key inside":
        entry["key"] = "0" * 64
        path.write_text(json.dumps(entry))
    elif kind == "an infinite size":
        entry["width_inches"] = float("inf")
        path.write_text(json.dumps(entry))
    elif kind == "not a PNG":
        import base64
        import hashlib

        data = b"GIF89a" + base64.b64decode(entry["png"])[6:]
        entry.update(png=base64.b64encode(data).decode(), png_sha256=hashlib.sha256(data).hexdigest())
        path.write_text(json.dumps(entry))
    elif kind == "too big":
        path.write_bytes(path.read_bytes() + b" " * picture_cache.MAX_ENTRY_BYTES)
    elif kind == "a symbolic link":
        real = path.with_name("elsewhere")
        path.rename(real)
        path.symlink_to(real)
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "truncated",
        "not JSON",
        "a JSON list",
        "another PNG",
        "another key inside",
        "an infinite size",
        "not a PNG",
        "too big",
        "a symbolic link",
    ],
)
def test_a_damaged_entry_is_drawn_again(cache, seed_drawn, kind):
    spec = load_spec()
    key = picture_cache.key(network_shape(spec).to_json())
    network_picture(spec)
    path = cache / f"{key}.json"
    _damage(kind, path, key)
    assert picture_cache.load(key) is None
    assert network_picture(spec).png == seed_drawn.png
    if kind != "a symbolic link":  # a link is never written over: files.atomic_path refuses
        assert picture_cache.load(key) == seed_drawn  # repaired


def test_an_unwritable_cache_is_no_error(tmp_path, monkeypatch, seed_drawn):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SHEETGEN_CACHE_DIR", str(blocker))
    assert network_picture(load_spec()).png == seed_drawn.png


def test_the_least_recently_used_pictures_go_first(cache, monkeypatch):
    monkeypatch.setattr(picture_cache, "MAX_ENTRIES", 2)
    drawn = picture_cache.Drawn(b"\x89PNG\r\n\x1a\n", 1.0, 1.0)
    keys = [f"{n:064x}" for n in range(3)]
    for n, key in enumerate(keys[:2]):
        picture_cache.store(key, drawn)
        os.utime(cache / f"{key}.json", (1000 + n, 1000 + n))
    assert picture_cache.load(keys[0]) == drawn  # used: now the most recent
    picture_cache.store(keys[2], drawn)
    assert [p.stem for p in entries(cache)] == [keys[0], keys[2]]


@pytest.mark.slow
def test_a_build_from_the_cache_imports_no_matplotlib_and_writes_the_same_bytes(cache, tmp_path):
    code = (
        "import sys; from sheetgen.cli import main\n"
        "try: main(['build', '--iterations', '3', '-o', sys.argv[1]])\n"
        "except SystemExit: pass\n"
        "print('matplotlib' in sys.modules)\n"
    )
    outputs = []
    for name in ("drawn.xlsx", "cached.xlsx"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / name)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "SHEETGEN_CACHE_DIR": str(cache.parent)},
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split()[-1])
    assert outputs == ["True", "False"]
    assert (tmp_path / "drawn.xlsx").read_bytes() == (tmp_path / "cached.xlsx").read_bytes()


@pytest.mark.slow
def test_the_users_matplotlib_style_changes_nothing(cache, tmp_path, seed_drawn):
    """A matplotlibrc of the user's would otherwise change the picture, and a cached one
    could then differ from a fresh drawing."""
    rc = tmp_path / "matplotlibrc"
    rc.write_text("font.size: 20\nfont.family: serif\nsavefig.facecolor: red\nfigure.dpi: 50\n")
    code = (
        "import sys; from sheetgen.workbook.diagram import draw_png, network_shape\n"
        "from sheetgen.workbook.spec import load_spec\n"
        "sys.stdout.buffer.write(draw_png(network_shape(load_spec())).png)\n"
    )
    env = {**os.environ, "MATPLOTLIBRC": str(rc)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == seed_drawn.png


def test_build_with_and_without_the_cache_gives_the_same_workbook(cache, tmp_path):
    spec = load_spec().with_training([0.5], 5)
    build_workbook(spec, tmp_path / "drawn.xlsx")
    assert entries(cache)
    build_workbook(spec, tmp_path / "cached.xlsx")
    assert (tmp_path / "drawn.xlsx").read_bytes() == (tmp_path / "cached.xlsx").read_bytes()
