;;; ananke-eglot.el --- ananke-lsp through Eglot  -*- lexical-binding: t; -*-

;; Put this in your init file (or `load' it). It needs `ananke-lsp' on `exec-path'
;; (`pip install "ananke-lsp[embedded]"').
;;
;; Eglot runs one server per major mode, so these entries replace your usual Python/JSON
;; server in those modes while they are first in `eglot-server-programs'.
;;
;; What you get: completions through `completion-at-point' (ananke's `textDocument/completion'
;; items), and the code actions ("Implement function 'NAME'", "Add docstring", "Fill JSON
;; from schema", ...) through `M-x eglot-code-actions', bound to C-c a below. Eglot has no
;; inline-completion (ghost text) UI.

(with-eval-after-load 'eglot
  (add-to-list 'eglot-server-programs
               '((python-mode python-ts-mode json-mode json-ts-mode)
                 . ("ananke-lsp"
                    ;; Editor settings (camelCase, as in the README); all optional.
                    :initializationOptions
                    (;; :model "/path/to/model.gguf"  ; default: the offline SmolLM2 on the CPU
                     ;; :endpoint "https://you--ananke.modal.run"
                     ;; :trustedEndpoints ["https://you--ananke.modal.run"]
                     :logLevel "warning"))))
  (define-key eglot-mode-map (kbd "C-c a") #'eglot-code-actions))

;; Start it in those modes automatically:
;; (add-hook 'python-base-mode-hook #'eglot-ensure)

;;; ananke-eglot.el ends here
