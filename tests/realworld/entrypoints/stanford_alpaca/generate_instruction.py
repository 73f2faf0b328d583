# tatsu-lab/stanford_alpaca generate_instruction.py: structure re-typed (imports, entry-point calls, flags), not the original code
import fire
import utils
def generate_instruction_following_data(output_dir='./', num_instructions_to_generate=100):
    pass
def main(task, **kwargs):
    globals()[task](**kwargs)
if __name__ == '__main__':
    fire.Fire(main)
