package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "complete -o bashdefault -o default -F _migrator_completion migrator",
		"zsh":  "compdef _migrator migrator",
		"fish": "complete -c migrator ",
	} {
		out, _, err := run(t, "completion", shell)
		if err != nil {
			t.Errorf("completion %s: %v", shell, err)
			continue
		}
		if !strings.Contains(out, want) {
			t.Errorf("completion %s does not register for migrator (%q):\n%s", shell, want, out)
		}
		if shell != "fish" && !strings.Contains(out, "--generate-bash-completion") {
			t.Errorf("completion %s does not ask the binary for candidates:\n%s", shell, out)
		}
	}
	// fish knows the commands and their flags.
	out, _, _ := run(t, "completion", "fish")
	for _, want := range []string{"mirror", "cutover", "-l metrics-addr", "-l bootstrap-servers"} {
		if !strings.Contains(out, want) {
			t.Errorf("fish completion lacks %q", want)
		}
	}
}

func TestCompletionUnknownShell(t *testing.T) {
	_, _, err := run(t, "completion", "powershell")
	if err == nil || !strings.Contains(err.Error(), `shell "powershell" is not supported: use bash, zsh or fish`) {
		t.Errorf("completion powershell: err = %v", err)
	}
	_, _, err = run(t, "completion")
	if err == nil || !strings.Contains(err.Error(), "name one shell: bash, zsh or fish") {
		t.Errorf("completion without a shell: err = %v", err)
	}
}

// TestGenerateBashCompletionListsCommands runs the built binary: urfave/cli
// reads os.Args when it completes, so the in-process app cannot be used.
func TestGenerateBashCompletionListsCommands(t *testing.T) {
	bin := buildMigrator(t, "")
	out, err := exec.Command(bin, "--generate-bash-completion").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(out))
	for _, cmd := range newApp(nil, nil).Commands {
		if !slices.Contains(got, cmd.Name) {
			t.Errorf("--generate-bash-completion does not list %s:\n%s", cmd.Name, out)
		}
	}
	out, err = exec.Command(bin, "cutover", "--generate-bash-completion").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out)); !slices.Contains(got, "consumers") || !slices.Contains(got, "producers") {
		t.Errorf("cutover --generate-bash-completion = %q, want its subcommands", out)
	}
}

// TestBashCompletionCompletes sources the bash script in a real bash and
// completes "migrator cu" and "migrator mirror --metr" with the built binary.
func TestBashCompletionCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	bin := buildMigrator(t, "")
	for words, want := range map[string]string{
		"cu":            "cutover",
		"mirror --metr": "--metrics-addr",
	} {
		script := `source <("$BIN" completion bash)
COMP_WORDS=("$BIN" ` + words + `); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_migrator_completion
printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "-c", script)
		cmd.Env = append(cmd.Environ(), "BIN="+bin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		if strings.TrimSpace(string(out)) != want {
			t.Errorf("completing %q: got %q, want %q", words, out, want)
		}
	}
}
