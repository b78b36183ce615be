from __future__ import annotations

from django.urls import re_path

from policies.kubeapi import views

urlpatterns = [re_path(r"^(?P<rest>.*)$", views.endpoint, name="kube-api")]
