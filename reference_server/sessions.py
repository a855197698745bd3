"""The ledger of open upload sessions: which exist, in which repository, and the caps on how many
may be open per repository and in total (beyond them a new session is 429 TOOMANYREQUESTS).

The ledger lives in memory beside the storage (loaded from it at start-up), so admission is a
dictionary lookup and the expiry sweep walks it in small batches instead of listing the store.
"""

from __future__ import annotations

from collections import Counter

from reference_server import errors
from reference_server.storage.base import UploadInfo

RETRY_AFTER = 5  # seconds a refused client is asked to wait: sessions end as pushes finish


class UploadLedger:
    """Open sessions by id, and how many each repository holds."""

    def __init__(self) -> None:
        self._open: dict[str, UploadInfo] = {}
        self._per_repo: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._open)

    def count(self, repo: str) -> int:
        """Open sessions of ``repo``."""
        return self._per_repo.get(repo, 0)

    def admit(self, repo: str, per_repo: int, total: int) -> None:
        """Raise 429 TOOMANYREQUESTS (with Retry-After) when one more session would pass a cap
        (0 or less = no cap)."""
        if total > 0 and len(self._open) >= total:
            raise errors.too_many_requests(RETRY_AFTER, {"reason": "too many open upload sessions",
                                                         "limit": total})
        if per_repo > 0 and self.count(repo) >= per_repo:
            raise errors.too_many_requests(RETRY_AFTER, {
                "reason": "too many open upload sessions in this repository", "limit": per_repo})

    def add(self, info: UploadInfo) -> None:
        """Record a session the storage just created (or holds since before a restart)."""
        if info.uuid not in self._open:
            self._open[info.uuid] = info
            self._per_repo[info.repo] += 1

    def discard(self, uuid: str) -> None:
        """Forget a session that ended (committed, cancelled, failed or expired)."""
        info = self._open.pop(uuid, None)
        if info is not None:
            self._per_repo[info.repo] -= 1
            if self._per_repo[info.repo] <= 0:
                del self._per_repo[info.repo]

    def snapshot(self) -> list[UploadInfo]:
        """The open sessions now, as a list the caller may walk while sessions come and go."""
        return list(self._open.values())
