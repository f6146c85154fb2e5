"""The reviewers' pages."""

from __future__ import annotations

from django.urls import path

from casemgmt.workspace import attachments, case, dashboard, gold_cards, home, letters, queue

urlpatterns = [
    path("", home.home, name="home"),
    path("queue/", queue.queue, name="queue"),
    path("queue/next", queue.queue_next_case, name="queue_next_case"),
    path("queue/filters/save", queue.queue_filter_save, name="queue_filter_save"),
    path("queue/filters/<int:filter_id>/delete", queue.queue_filter_delete, name="queue_filter_delete"),
    path("cases/<str:case_number>/", case.case_detail, name="case_detail"),
    path("cases/<str:case_number>/decide", case.case_decide, name="case_decide"),
    path("cases/<str:case_number>/refer", case.case_refer, name="case_refer"),
    path("cases/<str:case_number>/note", case.case_note, name="case_note"),
    path("cases/<str:case_number>/pend", case.case_pend, name="case_pend"),
    path("cases/<str:case_number>/peer-to-peer", case.case_peer_to_peer, name="case_peer_to_peer"),
    path("cases/<str:case_number>/appeal", case.case_appeal, name="case_appeal"),
    path("cases/<str:case_number>/reopen", case.case_reopen_view, name="case_reopen"),
    path("cases/<str:case_number>/lines/<int:sequence>/fact", case.case_fact, name="case_fact"),
    path(
        "cases/<str:case_number>/attachments/<int:attachment_id>/view",
        attachments.attachment_view,
        name="case_attachment_view",
    ),
    path("cases/<str:case_number>/letter/<int:decision_id>/", letters.letter_page, name="case_letter"),
    path("cases/<str:case_number>/letter/<int:decision_id>.pdf", letters.letter_pdf, name="case_letter_pdf"),
    path("cases/<str:case_number>/claim", queue.case_claim, name="case_claim"),
    path("cases/<str:case_number>/reassign", queue.case_reassign, name="case_reassign"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/export.csv", dashboard.dashboard_export, name="dashboard_export"),
    path("dashboard/report/", dashboard.cms_report, name="dashboard_report"),
    path("dashboard/report.csv", dashboard.cms_report_export, name="dashboard_report_export"),
    path("gold-cards/", gold_cards.gold_cards, name="gold_cards"),
    path("gold-cards/grant", gold_cards.gold_card_grant_view, name="gold_card_grant"),
    path("gold-cards/<int:exemption_id>/revoke", gold_cards.gold_card_revoke_view, name="gold_card_revoke"),
]
