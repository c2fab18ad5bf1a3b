"""curate: build pretraining corpora for code LLMs the way Seed-Coder did."""

from curate.plugin import Annotator, BarrierJob, Drop, Filter, Plugin, PluginParams, Reject, Source, Stage, \
    StageContext, Transform

__version__ = "0.1.0"
__all__ = ["Annotator", "BarrierJob", "Drop", "Filter", "Plugin", "PluginParams", "Reject", "Source", "Stage",
           "StageContext", "Transform", "__version__"]
