"""One ComponentResource per layer; each module holds the component and its Args dataclass."""
