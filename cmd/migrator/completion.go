package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// bashCompletion completes migrator's commands and flags in bash: it asks
// the binary itself, which lists the candidates when called with
// --generate-bash-completion.
const bashCompletion = `# bash completion for migrator.
# Load it now:     source <(migrator completion bash)
# or for good:     migrator completion bash > /etc/bash_completion.d/migrator
_migrator_completion() {
  local cur opts
  cur="${COMP_WORDS[COMP_CWORD]}"
  local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  if [[ "$cur" == -* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _migrator_completion migrator
`

// zshCompletion is the same for zsh.
const zshCompletion = `#compdef migrator
# zsh completion for migrator.
# Load it now:     source <(migrator completion zsh)     (after compinit)
# or for good:     migrator completion zsh > "${fpath[1]}/_migrator"
_migrator() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _migrator migrator
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:  "completion",
		Usage: "print a shell completion script: bash, zsh or fish",
		UsageText: "source <(migrator completion bash)\n" +
			"migrator completion zsh > \"${fpath[1]}/_migrator\"\n" +
			"migrator completion fish > ~/.config/fish/completions/migrator.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("completion: name one shell: bash, zsh or fish")
			}
			var script string
			switch shell := c.Args().First(); shell {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("fish completion: %w", err)
				}
				script = s
			default:
				return fmt.Errorf("completion: shell %q is not supported: use bash, zsh or fish", shell)
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}
