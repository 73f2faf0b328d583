# Lightning-AI/deep-learning-project-template tests/test_classifier.py: structure re-typed (imports, entry-point calls, flags), not the original code
from project.lit_image_classifier import LitClassifier
def test_lit_classifier():
    pass
