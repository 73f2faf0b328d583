"""Reading results back: metrics of runs, `runs compare`, the sweep report, classifier metrics."""
