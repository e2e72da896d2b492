"""The consistency checker's comparison must see every kind of difference."""
from datetime import datetime, timezone
from decimal import Decimal

from cdc_pipeline.verify import _keyed, compare, normal


def test_normal_form_makes_equal_values_equal_and_keeps_differences():
    assert normal(datetime(2024, 1, 1, 9, tzinfo=timezone.utc)) == normal(datetime(2024, 1, 1, 9))
    assert normal(Decimal("1.10")) != normal(Decimal("1.1"))  # scale is part of the value
    assert normal(5) == "5" and normal(None) is None


def test_compare_reports_missing_extra_and_different_keys():
    cols = ["id", "v"]
    source = _keyed([(1, Decimal("1.00")), (2, Decimal("2.00")), (3, Decimal("3.00"))], cols, ["id"])
    target = _keyed([(1, Decimal("1.00")), (3, Decimal("3.01")), (4, Decimal("4.00"))], cols, ["id"])
    report = compare("t", "sink", source, target)
    assert not report.ok
    assert (report.missing, report.extra, report.different) == ([("2",)], [("4",)], [("3",)])
    assert compare("t", "sink", source, dict(source)).ok
