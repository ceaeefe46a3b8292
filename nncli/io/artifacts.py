"""The model file: one zip archive that loads without executing code.

Members (a fixed set; anything else is rejected):

- ``manifest.json``: format and version, library versions, schema, preprocessing,
  model settings, classes, seed, training-data hash, metrics, history, and the
  SHA-256 of every other member;
- ``weights.safetensors``: numeric arrays (network weights, linear coefficients);
- ``gbt.txt``: LightGBM's plain-text tree model (``m0.gbt.txt``, … for the members of
  an ensemble, whose arrays are named ``m0/…`` in the weights);
- ``catboost.json``: CatBoost's JSON model (checked as JSON before CatBoost reads it).

No pickle anywhere. Reading is bounded (member count and sizes) so a zip bomb is
refused, members are read into memory and never extracted, and every hash is
checked before anything is used. Every number read is checked: the manifest may hold
no NaN or infinity (nncli never writes one), nor may the arrays; the records built from
the manifest check their own ranges (settings by their tables, scales, ensemble weights).
Writing goes to a temporary file that replaces the target only when complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from nncli.errors import ArtifactError
from nncli.io.outputs import atomic_output

FORMAT = "nncli-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
BLOB_NAMES = ("gbt.txt", "catboost.json")
ALLOWED = {MANIFEST, WEIGHTS, *BLOB_NAMES}
MEMBER_BLOB = re.compile(r"m\d{1,3}\.(" + "|".join(re.escape(b) for b in BLOB_NAMES) + ")")
MAX_MEMBER_BYTES = 2 * 1024**3
#: every way reading a damaged zip member fails: structure, CRC, zlib stream, truncation,
#: a flipped compression-method or encryption flag
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
              NotImplementedError, RuntimeError, UnicodeDecodeError, KeyError)  # fmt: skip
MAX_MANIFEST_BYTES = 256 * 1024**2


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_model_file(
    path: str | Path,
    manifest: dict[str, Any],
    arrays: dict[str, np.ndarray],
    blobs: dict[str, bytes],
    overwrite: bool = True,
) -> None:
    """Write atomically: a temporary file beside ``path``, put in place when complete
    (without ``overwrite``, never over a file that appeared at ``path`` meanwhile)."""
    from safetensors.numpy import save

    members: dict[str, bytes] = {}
    if arrays:
        members[WEIGHTS] = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    for name, blob in blobs.items():
        assert _allowed(name) and name != MANIFEST, name
        members[name] = blob
    manifest = manifest | {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "members": {k: _sha(v) for k, v in members.items()},
    }
    members[MANIFEST] = json.dumps(manifest, indent=1, allow_nan=False).encode()
    with (
        atomic_output(path, "wb", exclusive=not overwrite) as fh,
        zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for name in sorted(members, key=lambda n: n != MANIFEST):
            archive.writestr(name, members[name])


def read_model_file(
    path: str | Path,
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, bytes]]:
    """Manifest, arrays and blobs of a model file, after every check has passed."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(
            f"model file not found: {path}", "pass the file written by nncli train -o."
        )
    raw = path.read_bytes()
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except ZIP_ERRORS:
        raise ArtifactError(
            f"{path} is not an nncli model file (not a zip archive, or truncated)",
            "pass a file written by nncli train -o; re-train if it was damaged.",
        ) from None
    with archive:
        members = _read_members(archive, path)
    manifest = _parse_manifest(members.pop(MANIFEST, None), path)
    _check_hashes(manifest, members, path)
    arrays: dict[str, np.ndarray] = {}
    if WEIGHTS in members:
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            arrays = load(members.pop(WEIGHTS))
        except (SafetensorError, ValueError) as exc:
            raise ArtifactError(
                f"the weights in {path} are corrupt: {exc}", "re-train the model."
            ) from None
        check_finite_arrays(arrays, path)
    return manifest, arrays, members


def _read_members(archive: zipfile.ZipFile, path: Path) -> dict[str, bytes]:
    infos = archive.infolist()
    names = [i.filename for i in infos]
    unexpected = [n for n in names if not _allowed(n)]
    if unexpected or len(set(names)) != len(names):
        raise ArtifactError(
            f"{path} holds unexpected members ({', '.join(unexpected[:3]) or 'duplicates'}); "
            "it was not written by nncli or has been tampered with",
            "only load model files you trust; re-train the model.",
        )
    members = {}
    for info in infos:
        limit = MAX_MANIFEST_BYTES if info.filename == MANIFEST else MAX_MEMBER_BYTES
        if info.file_size > limit:
            raise ArtifactError(
                f"member {info.filename} of {path} claims {info.file_size:,} bytes, "
                "more than a model file may hold",
                "the file is not a genuine nncli model.",
            )
        try:
            with archive.open(info) as fh:
                data = fh.read(limit + 1)
        except ZIP_ERRORS as exc:
            raise ArtifactError(f"{path} is damaged ({exc})", "re-train the model.") from None
        if len(data) > limit:
            raise ArtifactError(
                f"member {info.filename} of {path} decompresses past its limit",
                "the file is not a genuine nncli model.",
            )
        members[info.filename] = data
    return members


def _allowed(name: str) -> bool:
    """The fixed members, and an ensemble member's blobs (m0.gbt.txt, …)."""
    return name in ALLOWED or MEMBER_BLOB.fullmatch(name) is not None


def _parse_manifest(data: bytes | None, path: Path) -> dict[str, Any]:
    if data is None:
        raise ArtifactError(
            f"{path} has no manifest.json", "pass a file written by nncli train -o."
        )
    try:
        manifest = json.loads(data, parse_constant=_not_finite, parse_float=_finite_float)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ArtifactError(
            f"the manifest of {path} is not valid JSON", "re-train the model."
        ) from None
    except _NonFinite as exc:
        raise ArtifactError(
            f"the manifest of {path} holds a number that is not finite ({exc})",
            "nncli never writes one: the file was altered or is damaged; re-train the model.",
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(
            f"{path} is not an nncli model file", "pass a file written by nncli train -o."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        made_by = manifest.get("versions", {}).get("nncli", "?")
        raise ArtifactError(
            f"{path} uses model format {version!r} (written by nncli {made_by}); "
            f"this nncli reads format {FORMAT_VERSION}",
            "upgrade nncli, or re-train the model with this version.",
        )
    return manifest


class _NonFinite(ValueError):
    """A NaN or an infinity in a manifest (the text it was written as)."""


def _not_finite(text: str) -> float:
    raise _NonFinite(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):  # 1e999 reads as inf
        raise _NonFinite(text)
    return value


def check_finite_arrays(arrays: dict[str, np.ndarray], path: str | Path) -> None:
    """Every floating-point array finite: a trained model never holds NaN or inf."""
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ArtifactError(
                f"the array {name!r} in {path} holds NaN or infinite values",
                "the file was altered or is damaged; re-train the model.",
            )


def _check_hashes(manifest: dict[str, Any], members: dict[str, bytes], path: Path) -> None:
    listed = manifest.get("members")
    if not isinstance(listed, dict) or set(listed) != set(members):
        raise ArtifactError(
            f"the members of {path} do not match its manifest",
            "the file has been altered; re-train the model.",
        )
    for name, data in members.items():
        if _sha(data) != listed[name]:
            raise ArtifactError(
                f"{name} in {path} does not match its checksum",
                "the file has been altered or damaged; re-train the model.",
            )
