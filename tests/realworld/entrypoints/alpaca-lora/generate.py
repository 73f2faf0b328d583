# tloen/alpaca-lora generate.py: structure re-typed (imports, entry-point calls, flags), not the original code
import fire
import gradio as gr
import torch
def main(load_8bit: bool = False, base_model: str = ''):
    gr.Interface(fn=evaluate).launch()
if __name__ == '__main__':
    fire.Fire(main)
