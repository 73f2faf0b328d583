# facebookresearch/detr test_all.py: structure re-typed (imports, entry-point calls, flags), not the original code
import unittest
import torch
if __name__ == '__main__':
    unittest.main()
