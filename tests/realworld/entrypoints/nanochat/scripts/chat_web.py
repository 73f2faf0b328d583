# karpathy/nanochat scripts/chat_web.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
from fastapi import FastAPI
parser = argparse.ArgumentParser()
if __name__ == '__main__':
    import uvicorn
