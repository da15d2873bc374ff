"""Code generation: IR -> readable Python source (`function_source`, `module_source`)
and the compiled training epoch (`epoch_source`)."""
from .epoch import epoch_source
from .pyemit import function_source, module_source

__all__ = ["epoch_source", "function_source", "module_source"]
