"""Training stages: SFT and DPO with TRL, PEFT and accelerate; publishing to the Hugging Face Hub."""
