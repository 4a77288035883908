"""The study on top of everything: `xgan run` (plan, stages, resume), its report, and the minority-size sweep."""
