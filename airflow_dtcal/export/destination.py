"""Where an export writes, checked as text: an absolute place, named without tricks.

Pure: no I/O, no Airflow. The export operator checks a literal destination when the DAG is parsed and the
rendered one again when the task runs, where it also asks Airflow for the storage (an unknown scheme, or a
scheme whose package is missing, fails there). The rules:

* a local path is absolute (``/data/dingtalk``): a relative one would be read against the worker's current
  directory, which differs between workers, the triggerer and ``airflow dags test``;
* ``file://`` is followed by an absolute path (``file:///data/dingtalk``): ``file://data/x`` reads
  ``data/x`` against the current directory;
* no ``..`` component: the destination names its directory itself;
* no control character (a NUL was silently dropped by the storage layer, writing somewhere else than
  named); surrounding spaces (a template's trailing newline) are removed.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_dtcal.core.errors import InvalidArgumentError

_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LOCAL_SCHEMES = ("file", "local")
EXAMPLES = "e.g. /data/dingtalk, file:///data/dingtalk or s3://bucket/dingtalk"


def check_destination(value: Any, field: str = "destination") -> str:
    """The destination URL or path, stripped and checked (an :class:`InvalidArgumentError` names ``field``)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(
            field, f"must be an ObjectStoragePath or a URL or absolute path ({EXAMPLES})", value
        )
    text = value.strip()
    control = _CONTROL.search(text)
    if control:
        raise InvalidArgumentError(
            field, f"contains the control character {control.group()!r}; name the place in plain text", value
        )
    url = _URL.fullmatch(text)
    if url is None:
        if not text.startswith("/"):
            raise InvalidArgumentError(
                field,
                "is a relative path, which each worker would read against its own current directory; give an "
                f"absolute path or a URL ({EXAMPLES})",
                value,
            )
        path = text
    else:
        scheme, rest = url.group(1).lower(), url.group(2)
        if scheme in LOCAL_SCHEMES and not rest.startswith("/"):
            raise InvalidArgumentError(
                field,
                f"{scheme}:// must be followed by an absolute path ({scheme}:///data/dingtalk, three slashes); "
                f"{text!r} would be read against the worker's current directory",
                value,
            )
        path = rest
    if ".." in path.split("/"):
        raise InvalidArgumentError(field, "has a '..' component; name the directory itself", value)
    return text


def check_storage_path(protocol: Any, path: Any, field: str = "destination") -> None:
    """The same rules for an ``ObjectStoragePath`` the DAG built (its ``protocol`` and ``path``)."""
    scheme = protocol[0] if isinstance(protocol, (tuple, list)) and protocol else protocol
    text = str(path)
    check_destination(f"{scheme}://{text}" if scheme else text, field)
