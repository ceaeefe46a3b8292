"""Model files: truncated, random, tampered or hostile files are refused, nothing runs."""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile

import pytest

import nncli
from nncli.errors import ArtifactError
from nncli.io import artifacts
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("m") / "logreg.nncli"
    nncli.train(SAMPLE / "physics.csv", model="logreg").save(path)
    return path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rewrite(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _error(path) -> str:
    with pytest.raises(ArtifactError) as err:
        nncli.load(path)
    return err.value.message


def test_truncated_file(model_file, tmp_path):
    bad = tmp_path / "t.nncli"
    bad.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    assert "not an nncli model file (not a zip archive, or truncated)" in _error(bad)


def test_random_bytes(tmp_path):
    bad = tmp_path / "r.nncli"
    bad.write_bytes(os.urandom(4096))
    assert "not a zip archive" in _error(bad)


def test_changed_weights_fail_the_checksum(model_file, tmp_path):
    members = _members(model_file)
    weights = bytearray(members["weights.safetensors"])
    weights[-1] ^= 0xFF
    members["weights.safetensors"] = bytes(weights)
    bad = tmp_path / "w.nncli"
    _rewrite(bad, members)
    assert "weights.safetensors" in _error(bad) and "checksum" in _error(bad)


def test_pickle_payload_is_refused_and_never_run(model_file, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    members = _members(model_file) | {"model.pkl": pickle.dumps(Payload())}
    bad = tmp_path / "p.nncli"
    _rewrite(bad, members)
    assert "unexpected members (model.pkl)" in _error(bad)
    assert not marker.exists()


def test_path_traversal_member_is_refused_and_nothing_written(model_file, tmp_path):
    members = _members(model_file) | {"../../escape.txt": b"x"}
    bad = tmp_path / "sub" / "e.nncli"
    bad.parent.mkdir()
    _rewrite(bad, members)
    assert "unexpected members (../../escape.txt)" in _error(bad)
    assert not (tmp_path.parent / "escape.txt").exists()


def test_manifest_from_a_newer_format(model_file, tmp_path):
    members = _members(model_file)
    manifest = json.loads(members["manifest.json"]) | {"format_version": 99}
    members["manifest.json"] = json.dumps(manifest).encode()
    bad = tmp_path / "n.nncli"
    _rewrite(bad, members)
    message = _error(bad)
    assert "uses model format 99 (written by nncli 0.1.0); this nncli reads format 1" in message


def test_manifest_edited_to_drop_a_field(model_file, tmp_path):
    members = _members(model_file)
    manifest = json.loads(members["manifest.json"])
    del manifest["preprocessor"]
    members["manifest.json"] = json.dumps(manifest).encode()
    bad = tmp_path / "m.nncli"
    _rewrite(bad, members)
    assert "manifest" in _error(bad) and "incomplete or malformed" in _error(bad)


def test_decompression_is_bounded(model_file, monkeypatch):
    monkeypatch.setattr(artifacts, "MAX_MEMBER_BYTES", 64)
    assert "more than a model file may hold" in _error(model_file)


def test_missing_file():
    assert _error("no/such.nncli") == "model file not found: no/such.nncli"


def test_writing_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.nncli"
    target.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", boom)
    with pytest.raises(RuntimeError):
        artifacts.write_model_file(target, {"x": 1}, {}, {})
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nncli"]


def test_byte_flips_inside_compressed_members_never_show_a_traceback(model_file, tmp_path):
    """Disk or transfer damage: every mutant is refused with a clean error, or (where
    the flip hits bytes that carry no meaning) loads with identical predictions."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(SAMPLE / "physics.csv").head(200)
    expected = nncli.load(model_file).predict_proba(frame)
    data = model_file.read_bytes()
    rng = np.random.default_rng(0)
    refused = 0
    for i in range(120):
        mutant = bytearray(data)
        for position in rng.integers(30, len(data) - 30, size=rng.integers(1, 4)):
            mutant[position] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / f"mutant{i}.nncli"
        path.write_bytes(bytes(mutant))
        try:
            loaded = nncli.load(path)
        except ArtifactError:
            refused += 1
            continue
        assert np.array_equal(loaded.predict_proba(frame), expected)
    assert refused > 100


@pytest.fixture(scope="module")
def ensemble_file(tmp_path_factory: pytest.TempPathFactory):
    """An ensemble of three models with weights 0.5, 0.3, 0.2, as compare --out writes one."""
    from nncli.io.card import ModelCard
    from nncli.learn.ensemble import EnsemblePredictor

    members = [nncli.train(SAMPLE / "physics.csv", model=m).predictor
               for m in ("logreg", "fisher", "gbt")]  # fmt: skip
    path = tmp_path_factory.mktemp("e") / "ensemble.nncli"
    card = ModelCard("ensemble", {}, 0)
    EnsemblePredictor(members[0].schema, members, ["a", "b", "c"], [0.5, 0.3, 0.2], card).save(path)
    return path


def _edited(path, tmp_path, edit, name="bad.nncli"):
    """A copy of the model file with its manifest text changed by ``edit`` (the hashes of
    the other members still match, so only the manifest's own checks can refuse it)."""
    members = _members(path)
    members["manifest.json"] = edit(members["manifest.json"].decode()).encode()
    bad = tmp_path / name
    _rewrite(bad, members)
    return bad


def _set_weights(weights):
    def edit(text):
        manifest = json.loads(text)
        for item, weight in zip(manifest["ensemble"], weights, strict=True):
            item["weight"] = weight
        return json.dumps(manifest)

    return edit


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([float("nan")] * 3, "holds a number that is not finite (NaN)"),
        ([2, -0.5, -0.5], "weights that are not a blend (2, -0.5, -0.5)"),
        ([0.5, 0.3, 0.3], "weights that are not a blend (0.5, 0.3, 0.3)"),
        ([1e999, 0, 0], "holds a number that is not finite (Infinity)"),
    ],
)
def test_ensemble_weights_that_make_no_sense_are_refused(
    invoke, ensemble_file, tmp_path, weights, message
):
    ok = invoke(["predict", ensemble_file, SAMPLE / "physics.csv", "--proba"]).stdout
    assert ok.count("\n") == 4001
    bad = _edited(ensemble_file, tmp_path, _set_weights(weights))
    err = invoke(["predict", bad, SAMPLE / "physics.csv", "-o", tmp_path / "p.csv"], exit_code=1)
    assert err.stderr.startswith("Error: ") and message in err.stderr and "Hint: " in err.stderr
    assert not (tmp_path / "p.csv").exists()


def test_every_number_in_a_manifest_is_checked(invoke, model_file, tmp_path):
    """Not a special case for the ensemble: a NaN anywhere, or a scale that is not
    above 0, is refused with one error line."""

    def nan_median(text):
        manifest = json.loads(text)
        manifest["preprocessor"]["numeric"][0]["median"] = float("nan")
        return json.dumps(manifest)

    def zero_scale(text):
        manifest = json.loads(text)
        manifest["preprocessor"]["numeric"][0]["scale"] = 0.0
        return json.dumps(manifest)

    def huge_median(text):  # JSON text that Python reads as inf
        return re.sub(r'"median": [^,}]+', '"median": 1e999', text, count=1)

    cases = ((nan_median, "not finite (NaN)"), (zero_scale, "scale 0.0 is not above 0"),
             (huge_median, "not finite (1e999)"))  # fmt: skip
    for edit, message in cases:
        err = invoke(["info", _edited(model_file, tmp_path, edit)], exit_code=1).stderr
        assert err.startswith("Error: ") and message in err, err


def test_non_finite_weights_are_refused(invoke, model_file, tmp_path):
    """An array of NaN with a matching checksum (a careful forger) is still refused."""
    import hashlib

    import numpy as np
    from safetensors.numpy import load, save

    members = _members(model_file)
    arrays = load(members["weights.safetensors"])
    arrays["coef"] = np.full_like(arrays["coef"], np.nan)
    members["weights.safetensors"] = save(arrays)
    manifest = json.loads(members["manifest.json"])
    manifest["members"]["weights.safetensors"] = hashlib.sha256(
        members["weights.safetensors"]).hexdigest()  # fmt: skip
    members["manifest.json"] = json.dumps(manifest).encode()
    bad = tmp_path / "nan.nncli"
    _rewrite(bad, members)
    err = invoke(["evaluate", bad, SAMPLE / "physics.csv"], exit_code=1).stderr
    assert "Error: the array 'coef'" in err and "NaN or infinite" in err
