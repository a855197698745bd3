"""Image and artifact builders: blobs, configs, manifests and indexes with known digests.

Every builder returns the exact bytes to push plus the digest of those bytes, so a check can
compare what a registry serves with what was sent, byte for byte.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import os
import random
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from registry_harness import spec
from registry_harness.digests import digest_of


def canonical_json(value: object) -> bytes:
    """Compact JSON bytes (the exact bytes pushed; digests are computed over them)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=False).encode()


def render_json(value: object, indent: int | None = None) -> bytes:
    """Compact JSON bytes, or indented ones when ``indent`` is given (non-canonical bytes let a
    check prove a registry stores and serves exactly what was pushed)."""
    if indent is None:
        return canonical_json(value)
    return json.dumps(value, indent=indent).encode()


def random_bytes(size: int, seed: int | None = None) -> bytes:
    """``size`` bytes: random from the OS, or reproducible when ``seed`` is given."""
    if seed is None:
        return os.urandom(size)
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True)
class Blob:
    """Content with its media type and digest."""

    data: bytes
    media_type: str = "application/octet-stream"
    algorithm: str = "sha256"
    annotations: dict[str, str] | None = None

    @cached_property
    def digest(self) -> str:  # computed once: a large blob's hash is milliseconds
        return digest_of(self.data, self.algorithm)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: object) -> dict[str, object]:
        """The OCI descriptor of this blob (mediaType, digest, size, annotations, extras)."""
        desc: dict[str, object] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            desc["annotations"] = dict(self.annotations)
        desc.update(extra)
        return desc


@dataclass(frozen=True)
class Manifest:
    """A manifest (image, index or artifact): its bytes, media type and the blobs it needs."""

    manifest: bytes
    media_type: str
    blobs: tuple[Blob, ...] = ()
    children: tuple[Manifest, ...] = ()
    algorithm: str = "sha256"
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    subject: dict[str, object] | None = field(default=None)

    @cached_property
    def digest(self) -> str:  # computed once: the load profiles ask for it on every request
        return digest_of(self.manifest, self.algorithm)

    @property
    def size(self) -> int:
        return len(self.manifest)

    @property
    def config(self) -> Blob | None:
        return self.blobs[0] if self.blobs and self.media_type not in spec.INDEX_MEDIA_TYPES else None

    @property
    def layers(self) -> tuple[Blob, ...]:
        return self.blobs[1:] if self.config is not None else ()

    def descriptor(self, **extra: object) -> dict[str, object]:
        """The descriptor pointing at this manifest (for indexes and ``subject`` fields)."""
        desc: dict[str, object] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            desc["artifactType"] = self.artifact_type
        desc.update(extra)
        return desc

    def json(self) -> dict:
        return json.loads(self.manifest)


def tar_layer(files: dict[str, bytes], compress: bool = True, executables: frozenset[str] = frozenset()) -> bytes:
    """A real (optionally gzipped) tar layer holding ``files``, reproducible byte for byte; the names in
    ``executables`` get mode 0755 (a root filesystem a container can run), the others 0644."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o755 if name in executables else 0o644
            tar.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    return gzip.compress(data, mtime=0) if compress else data


def image_config(diff_ids: list[str], architecture: str = "amd64", os_name: str = "linux",
                 labels: dict[str, str] | None = None, *, history: list[dict[str, object]] | None = None,
                 execution: dict[str, object] | None = None, indent: int | None = None) -> bytes:
    """An image configuration JSON (shared by the OCI and Docker schema2 formats).

    ``history`` replaces the default one-entry-per-layer history (e.g. entries with ``created``
    and ``empty_layer``, which a schema1 conversion reads); ``execution`` replaces the ``config``
    section (Cmd, Env, …); ``indent`` renders indented bytes.
    """
    config: dict[str, object] = {
        "architecture": architecture,
        "os": os_name,
        "config": execution if execution is not None else {"Labels": labels or {}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history if history is not None else [{"created_by": "registry-harness"} for _ in diff_ids],
    }
    return render_json(config, indent)


def build_image(
    layer_sizes: tuple[int, ...] = (1024,),
    fmt: str = "oci",
    *,
    seed: int | None = None,
    algorithm: str = "sha256",
    annotations: dict[str, str] | None = None,
    subject: Manifest | None = None,
    architecture: str = "amd64",
    real_layers: bool = False,
    history: list[dict[str, object]] | None = None,
    execution: dict[str, object] | None = None,
    config: bytes | None = None,
    indent: int | None = None,
) -> Manifest:
    """An image manifest with random layers of the given sizes; ``fmt`` is ``oci`` or ``docker``.

    With ``real_layers`` each layer is a gzipped tar whose diff_id is real (clients that unpack
    images, such as podman, need that); otherwise layers are random bytes of exactly that size.
    ``history`` and ``execution`` go into the generated config (see image_config); ``config``
    gives the exact config bytes instead; ``indent`` renders config and manifest indented.
    """
    docker = fmt == "docker"
    layer_type = spec.DOCKER_LAYER if docker else spec.OCI_LAYER
    layers: list[Blob] = []
    diff_ids: list[str] = []
    for i, size in enumerate(layer_sizes):
        payload = random_bytes(size, None if seed is None else seed + i)
        if real_layers:
            raw = tar_layer({f"file{i}.bin": payload}, compress=False)
            layers.append(Blob(gzip.compress(raw, mtime=0), layer_type, algorithm))
            diff_ids.append(digest_of(raw, "sha256"))
        else:
            layers.append(Blob(payload, layer_type, algorithm))
            diff_ids.append(digest_of(payload, "sha256"))
    if config is None:
        config = image_config(diff_ids, architecture, history=history, execution=execution, indent=indent)
    config_blob = Blob(config, spec.DOCKER_CONFIG if docker else spec.OCI_CONFIG, algorithm)
    media_type = spec.DOCKER_MANIFEST_V2 if docker else spec.OCI_MANIFEST
    body: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config_blob.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    if subject is not None:
        body["subject"] = subject.descriptor()
    if annotations:
        body["annotations"] = annotations
    return Manifest(render_json(body, indent), media_type, (config_blob, *layers), algorithm=algorithm,
                    annotations=annotations, subject=subject.descriptor() if subject else None)


def build_index(manifests: list[Manifest], fmt: str = "oci", annotations: dict[str, str] | None = None,
                platforms: list[dict[str, str]] | None = None, *, algorithm: str = "sha256",
                artifact_type: str | None = None, subject: Manifest | None = None) -> Manifest:
    """An OCI index or Docker manifest list over ``manifests`` (push the children first), addressed
    by ``algorithm``; an OCI index may carry ``artifactType`` and a ``subject`` (an index as referrer)."""
    media_type = spec.DOCKER_MANIFEST_LIST if fmt == "docker" else spec.OCI_INDEX
    entries = []
    for i, child in enumerate(manifests):
        platform = (platforms or [])[i] if platforms and i < len(platforms) else \
            {"architecture": ["amd64", "arm64", "s390x", "ppc64le"][i % 4], "os": "linux"}
        entries.append(child.descriptor(platform=platform))
    body: dict[str, object] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        body["artifactType"] = artifact_type
    body["manifests"] = entries
    if subject is not None:
        body["subject"] = subject.descriptor()
    if annotations:
        body["annotations"] = annotations
    return Manifest(canonical_json(body), media_type, (), tuple(manifests), algorithm=algorithm,
                    artifact_type=artifact_type, annotations=annotations,
                    subject=subject.descriptor() if subject else None)


def build_artifact(
    artifact_type: str = "application/vnd.registry-harness.test+json",
    *,
    subject: Manifest | None = None,
    blobs: tuple[bytes, ...] = (b'{"note":"registry-harness"}',),
    annotations: dict[str, str] | None = None,
    blob_media_type: str = "application/vnd.registry-harness.blob",
    config_style: str = "empty",
) -> Manifest:
    """An OCI artifact manifest (image manifest with ``artifactType``), optionally with a subject.

    ``config_style='empty'`` uses the empty descriptor and ``artifactType``; ``'config'`` puts
    the type in ``config.mediaType`` instead (the older convention).
    """
    layers = [Blob(b, blob_media_type) for b in blobs]
    if config_style == "config":
        config = Blob(b"{}", artifact_type)
    else:
        config = Blob(spec.OCI_EMPTY_JSON, spec.OCI_EMPTY)
    body: dict[str, object] = {"schemaVersion": 2, "mediaType": spec.OCI_MANIFEST}
    if config_style != "config":
        body["artifactType"] = artifact_type
    body["config"] = config.descriptor()
    body["layers"] = [layer.descriptor() for layer in layers] or [config.descriptor()]
    if subject is not None:
        body["subject"] = subject.descriptor()
    if annotations:
        body["annotations"] = annotations
    return Manifest(canonical_json(body), spec.OCI_MANIFEST, (config, *layers), artifact_type=artifact_type,
                    annotations=annotations, subject=subject.descriptor() if subject else None)


def large_manifest(target_bytes: int, fmt: str = "oci") -> Manifest:
    """An image manifest padded with annotations to about ``target_bytes`` (one tiny layer)."""
    base = build_image((16,), fmt)
    body = base.json()
    overhead = len(base.manifest) + 64
    chunk = 1000
    count = max((target_bytes - overhead) // (chunk + 40), 0)
    body["annotations"] = {f"org.registry-harness.pad.{i:06d}": "x" * chunk for i in range(count)}
    data = canonical_json(body)
    if len(data) < target_bytes:
        body["annotations"]["org.registry-harness.pad.tail"] = "x" * (target_bytes - len(data) - 40)
        data = canonical_json(body)
    return Manifest(data, base.media_type, base.blobs)


def with_body(manifest: Manifest, change: Callable[[dict], None], **fields: object) -> Manifest:
    """``manifest`` re-rendered after ``change(body)`` edits its JSON (same blobs and children unless
    ``fields`` replace them): how the data sets below add fields the builders do not know."""
    body = manifest.json()
    change(body)
    return dataclasses.replace(manifest, manifest=canonical_json(body), **fields)


CONTENT_ARTIFACT_TYPE = "application/vnd.registry-harness.content-kind+json"
NONDISTRIBUTABLE_URL = "https://layers.example.invalid/registry-harness/layer.tar.gz"


def _nested_index() -> Manifest:
    inner = build_index([build_image((128,)), build_image((160,))])
    return build_index([inner, build_image((96,))])


def _artifact_index() -> Manifest:
    members = [build_artifact(CONTENT_ARTIFACT_TYPE, blobs=(random_bytes(64),)),
               build_artifact(CONTENT_ARTIFACT_TYPE, blobs=(random_bytes(80),))]
    return build_index(members, artifact_type=CONTENT_ARTIFACT_TYPE,
                       annotations={"org.registry-harness.kind": "artifact-index"})


def _index_as_referrer() -> Manifest:
    subject = build_image((64,))
    index = build_index([build_artifact(CONTENT_ARTIFACT_TYPE, blobs=(random_bytes(48),))], subject=subject,
                        artifact_type=CONTENT_ARTIFACT_TYPE)
    return dataclasses.replace(index, children=(subject, *index.children))  # the subject is pushed first


def _index_as_subject() -> Manifest:
    subject = build_index([build_image((64,)), build_image((72,))])
    artifact = build_artifact(CONTENT_ARTIFACT_TYPE, subject=subject, blobs=(random_bytes(40),))
    return dataclasses.replace(artifact, children=(subject,))


def _descriptor_data() -> Manifest:
    image = build_image((32,))
    config = image.blobs[0]

    def embed(body: dict) -> None:
        body["config"]["data"] = base64.b64encode(config.data).decode()
    return with_body(image, embed)


def _non_distributable_layer() -> Manifest:
    image = build_image((48,))
    foreign = Blob(random_bytes(256), spec.OCI_NONDISTRIBUTABLE_LAYER)

    def add(body: dict) -> None:
        body["layers"].append(foreign.descriptor(urls=[NONDISTRIBUTABLE_URL]))
    return with_body(image, add)  # the foreign layer is never pushed: clients fetch it from its urls


def _custom_fields() -> Manifest:
    image = build_image((48,))

    def add(body: dict) -> None:
        body["org.registry-harness.custom"] = {"kept": True, "list": [1, "two", None]}
        body["config"]["org.registry-harness.descriptor-field"] = "kept"
    return with_body(image, add)


# The content data sets every registry is asked to round-trip byte for byte (one check body, many kinds).
CONTENT_KINDS: dict[str, Callable[[], Manifest]] = {
    "nested-index": _nested_index,
    "empty-index": lambda: build_index([]),
    "artifact-index": _artifact_index,
    "empty-descriptor-layer": lambda: build_artifact(CONTENT_ARTIFACT_TYPE, blobs=()),
    "index-as-referrer": _index_as_referrer,
    "index-as-subject": _index_as_subject,
    "descriptor-data": _descriptor_data,
    "non-distributable-layer": _non_distributable_layer,
    "custom-fields": _custom_fields,
}
