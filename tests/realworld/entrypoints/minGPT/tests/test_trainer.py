# karpathy/minGPT tests/test_trainer.py: structure re-typed (imports, entry-point calls, flags), not the original code
import unittest
from mingpt.trainer import Trainer
if __name__ == '__main__':
    unittest.main()
