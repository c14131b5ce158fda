"""Every field of NVIDIA's `dcgm_fields.h` is known to the catalogue and to `rules check`.

tests/data/dcgm-fields-4.6.0.txt is the header's list of field names (current and deprecated)
as grep finds them, independent of the script that generates the catalogue's table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gputop.core.catalogue import dcgm_field, lookup, suggest
from gputop.rules.lint import check_files

FIELDS = Path(__file__).parent / "data" / "dcgm-fields-4.6.0.txt"
NAMES = [
    line.strip()
    for line in FIELDS.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


def test_the_list_is_the_whole_header() -> None:
    assert len(NAMES) == len(set(NAMES)) == 966
    assert {"DCGM_FI_DEV_ROW_REMAP_PENDING", "DCGM_FI_DEV_GPU_TEMP_CELSIUS"} <= set(NAMES)


def test_every_field_of_the_header_is_known() -> None:
    assert [name for name in NAMES if dcgm_field(name) is None] == []
    fields = {name: dcgm_field(name) for name in NAMES}
    numeric = [name for name, field in fields.items() if field is not None and field.numeric]
    assert len(numeric) > 800
    assert [name for name in numeric if lookup(name) is None] == []


def test_a_deprecated_name_is_the_field_of_its_current_one() -> None:
    old, new = dcgm_field("DCGM_FI_DEV_GPU_TEMP"), dcgm_field("DCGM_FI_DEV_GPU_TEMP_CELSIUS")
    assert old is new and old is not None and old.id == 150 and old.unit == "°C"
    temp = lookup("DCGM_FI_DEV_GPU_TEMP_CELSIUS")
    assert temp is not None and temp.unit == "°C" and not temp.default_export
    assert temp.equivalent == "DCGM_FI_DEV_GPU_TEMP"  # the name a default install exports


def test_the_field_the_catalogue_lacked_is_known_and_not_mistaken() -> None:
    field = dcgm_field("DCGM_FI_DEV_ROW_REMAP_PENDING")
    assert field is not None and field.id == 396
    assert lookup("DCGM_FI_DEV_ROW_REMAP_PENDING") is not None
    assert suggest("DCGM_FI_DEV_ROW_REMAP_PENDNG") == "DCGM_FI_DEV_ROW_REMAP_PENDING"


def test_rules_check_on_every_field_gives_no_unknown_metric(tmp_path: Path) -> None:
    rules = tmp_path / "every-field.yml"
    body = "".join(
        f"      - alert: F{i}\n        expr: {name} > 0\n" for i, name in enumerate(NAMES)
    )
    rules.write_text(f"groups:\n  - name: every-field\n    rules:\n{body}", encoding="utf-8")
    report = check_files([str(rules)])
    assert report.rules == len(NAMES) and report.errors == 0
    checks = {f.check for f in report.findings}
    assert "unknown-metric" not in checks, [str(f) for f in report.findings][:5]
    # text and binary fields are known as such, never as unknown
    texts = [f for f in report.findings if f.check == "not-a-metric"]
    assert any("DCGM_FI_DEV_GPU_NAME holds text" in f.message for f in texts)


@pytest.mark.parametrize("name", ["DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_FB_USED"])
def test_the_dashboard_never_reads_the_generated_table(name: str) -> None:
    code = (
        "import sys; from gputop.core.catalogue import lookup; "
        f"lookup({name!r}); lookup('node_load1'); import gputop.ui.views.readings; "
        "print('gputop.core.dcgm_field_table' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
