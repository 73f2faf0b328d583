# Lightning-AI/deep-learning-project-template tests/test_classifier.py: structure re-typed (imports, entry-point calls, flags), not the original code
from project.lit_classifier_main import LitClassifier
def test_lit_classifier():
    pass
