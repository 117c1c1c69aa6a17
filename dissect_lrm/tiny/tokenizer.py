"""A small byte-level BPE tokenizer with a chat template, trained offline in about a second."""

from __future__ import annotations

from pathlib import Path

PAD_TOKEN = "<|endoftext|>"
USER_TOKEN = "<|user|>"
ASSISTANT_TOKEN = "<|assistant|>"
EOS_TOKEN = "<|im_end|>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

# Same shape as DeepSeek-R1-Distill's template: the generation prompt opens the thinking block,
# so the model's response is "<reasoning>\n</think>\n<answer>" exactly as with the real models.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}" + USER_TOKEN + "{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}"
    + ASSISTANT_TOKEN
    + "{{ message['content'] }}"
    + EOS_TOKEN
    + "{% else %}{{ message['content'] }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT_TOKEN + THINK_OPEN + "\n{% endif %}"
)


def _training_corpus() -> list[str]:
    from dissect_lrm.tiny.task import BOXED_INSTRUCTION, make_problems

    lines = []
    for p in make_problems(400, seed=1234, max_operand=20):
        lines.append(p.question + BOXED_INSTRUCTION)
        lines.append(p.solution)
    lines.append("0123456789 +-*/=()[]{}^_.,:;!?'\"\\ abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return lines


def build_tokenizer(out_dir: str | Path, vocab_size: int = 320):
    """Train and save a tokenizer loadable with ``AutoTokenizer.from_pretrained(out_dir)``."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    special = [PAD_TOKEN, USER_TOKEN, ASSISTANT_TOKEN, EOS_TOKEN]
    tok = Tokenizer(models.BPE())
    # Digits stay single tokens so arithmetic is learnable by a tiny model.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_corpus(), trainer=trainer)
    # As in DeepSeek-R1-Distill, the think tags are single but *normal* tokens: decoding with
    # skip_special_tokens=True (what verl's reward loop does) must keep "</think>" in the text.
    tok.add_tokens([AddedToken(THINK_OPEN, special=False), AddedToken(THINK_CLOSE, special=False)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        bos_token=None,
        unk_token=None,
        additional_special_tokens=[USER_TOKEN, ASSISTANT_TOKEN],
        model_max_length=4096,
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast
