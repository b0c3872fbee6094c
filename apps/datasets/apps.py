from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "apps.datasets"
    label = "datasets"

    def ready(self) -> None:
        # The trace page's "Add to dataset" section: traces cannot name datasets' URLs, so datasets plugs it in.
        from apps.datasets.selectors import trace_dataset_panel
        from apps.traces.selectors import trace_page_panel_register

        trace_page_panel_register(trace_dataset_panel)
