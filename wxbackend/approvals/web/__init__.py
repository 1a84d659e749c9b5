"""The approvals domain's routes: the console's 待审批 queue and decision pages."""
