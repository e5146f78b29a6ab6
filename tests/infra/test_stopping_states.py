"""The synthesized state machine ends the loop visibly when a stopping condition is met."""

from __future__ import annotations

from autolabel.localcloud.asl import iter_states


def test_a_stop_reason_leads_through_stopping_condition_met_to_write_output(asl):
    states = dict(iter_states(asl))
    (stop_rule,) = [rule for rule in states["MoreToLabel?"]["Choices"] if rule["Next"] == "StoppingConditionMet"]
    assert stop_rule == {"And": [{"Variable": "$.stopReason", "IsPresent": True},
                                 {"Variable": "$.stopReason", "IsNull": False}], "Next": "StoppingConditionMet"}
    stopped = states["StoppingConditionMet"]
    # To WriteOutput through Audit? (job.json's AuditSampleSize): a stopped job's machine labels are audited too.
    assert stopped["Type"] == "Pass" and stopped["Next"] == "Audit?"
    assert states["Audit?"]["Default"] == "WriteOutput"
    assert "ResultPath" not in stopped and "Result" not in stopped  # the state passes through unchanged
