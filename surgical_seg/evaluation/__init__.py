"""Evaluation: the clinical study's table (per class + mean), confusion matrix, one-vs-rest ROC/AUC."""
from .evaluate import evaluate_pairs, format_table, run_eval
from .metrics import FIGURES, SegmentationMetrics, auc, roc_curve
from .report import REFERENCE, write_report

__all__ = ["run_eval", "evaluate_pairs", "format_table", "SegmentationMetrics", "roc_curve", "auc", "FIGURES",
           "write_report", "REFERENCE"]
