"""Storage backends of the reference registry behind one narrow interface."""

from reference_server.storage.base import ManifestRecord, Storage, UploadInfo, UploadSink
from reference_server.storage.filesystem import FilesystemStorage
from reference_server.storage.memory import MemoryStorage

__all__ = ["FilesystemStorage", "ManifestRecord", "MemoryStorage", "Storage", "UploadInfo", "UploadSink"]
