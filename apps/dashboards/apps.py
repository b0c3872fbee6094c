from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "apps.dashboards"
    label = "dashboards"
    verbose_name = "Dashboards"

    def ready(self) -> None:
        # The SLI pages draw their charts as panels: slis cannot import dashboards, so dashboards registers.
        from apps.dashboards.sli_panels import sli_panel_place
        from apps.slis.selectors import sli_chart_placer_register

        sli_chart_placer_register(sli_panel_place)
