"""The defect table is well formed, and the README's compatibility table says the same."""

import os
import re

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from portfix._registry import TARGETS
from portfix._defects import DEFECTS, NO_OP_FROM, SUPPORTED

# Cell-independent: the defect table and the README, read as text: no release is imported or called.
pytestmark = pytest.mark.cell_independent

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_records_are_well_formed():
    ids = [d.id for d in DEFECTS]
    assert len(ids) == len(set(ids))
    for defect in DEFECTS:
        assert defect.distribution in SUPPORTED and defect.distribution in NO_OP_FROM
        assert defect.targets and all(t in TARGETS for t in defect.targets)
        assert defect.upstream and defect.summary
        spec = SpecifierSet(defect.affected)
        if defect.fixed_in is not None:
            assert Version(defect.fixed_in) not in spec, defect.id


def test_every_target_serves_a_defect():
    assert set(TARGETS) == set(t for d in DEFECTS for t in d.targets)


def _readme_rows():
    with open(README) as f:
        text = f.read()
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\| (D\d+) \| (.*?) \| (\w+) `([^`]*)` \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = match
    return rows


def test_readme_compatibility_table_matches_the_defect_table():
    rows = _readme_rows()
    assert sorted(rows) == sorted(d.id for d in DEFECTS)
    for defect in DEFECTS:
        row = rows[defect.id]
        assert re.findall(r"`([^`]+)`", row.group(2)) == list(defect.targets), defect.id
        assert row.group(3) == defect.distribution
        assert row.group(4) == defect.affected
        assert row.group(5).strip() == (defect.fixed_in or "not fixed")
