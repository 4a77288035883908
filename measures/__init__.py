"""Model-free statistics of image sets, shared by the quality report and the classifier comparison."""
