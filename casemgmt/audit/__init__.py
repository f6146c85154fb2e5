"""The audit log (HIPAA 164.312(b)): every view of member data and every change, append-only.

Write with casemgmt.audit.services.audit_record (its docstring says how); views are marked with
casemgmt.audit.recording.audited_view / AuditedApiMixin / AuditedAdminMixin.
"""
