/* Circuit de signature — améliorations facultatives : glisser-déposer et progression
   du dépôt, boutons « Copier » des commandes. Chaque tâche fonctionne sans ce script. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function say(form, text) {
    var status = form.querySelector(".depot-etat");
    if (status) { status.textContent = text; }
  }

  function megabytes(bytes) {
    return (bytes / 1048576).toLocaleString("fr-FR", { maximumFractionDigits: 1 }) + " Mo";
  }

  function showAnswer(doc) {
    var fresh = doc && doc.querySelector("main");
    var current = document.querySelector("main");
    if (!fresh || !current) { return false; }
    current.replaceWith(document.importNode(fresh, true));
    document.title = doc.title;
    enhance(document.querySelector("main"));
    var heading = document.getElementById("resultat") || document.querySelector("main h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
    return true;
  }

  function send(form, input) {
    var file = input.files && input.files[0];
    var limit = parseInt(form.getAttribute("data-max") || "0", 10);
    if (!file) { say(form, "Choisissez d'abord le fichier PDF signé."); input.focus(); return; }
    if (limit && file.size > limit) {
      say(form, "Ce fichier fait " + megabytes(file.size) + " : c'est plus que la limite de " +
        megabytes(limit) + ". Déposez le document tel que votre logiciel de signature l'a enregistré.");
      return;
    }
    var track = form.querySelector(".depot-suivi");
    var bar = form.querySelector("progress");
    var button = form.querySelector("button[type=submit]");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.responseType = "document";
    if (track) { track.hidden = false; }
    if (button) { button.disabled = true; }
    say(form, "Envoi de « " + file.name + " » en cours…");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable && bar) { bar.value = Math.round(100 * event.loaded / event.total); }
    });
    xhr.upload.addEventListener("load", function () {
      if (bar) { bar.value = 100; }
      say(form, "Fichier reçu : vérification de votre signature…");
    });
    xhr.addEventListener("load", function () {
      if (!showAnswer(xhr.response)) {
        if (button) { button.disabled = false; }
        say(form, "Réponse inattendue du serveur. Rechargez la page et réessayez.");
      }
    });
    xhr.addEventListener("error", function () {
      if (button) { button.disabled = false; }
      if (track) { track.hidden = true; }
      say(form, "L'envoi a échoué (connexion interrompue). Vérifiez votre connexion et réessayez.");
    });
    xhr.send(new FormData(form));
  }

  function enhanceUpload(form) {
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector(".depot-zone");
    if (!input || !zone || !window.FormData) { return; }
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("survol");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("survol"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) { return; }
      input.files = files;
      say(form, "Fichier choisi : « " + files[0].name + " ». Cliquez sur « Déposer le document signé ».");
    });
    input.addEventListener("change", function () {
      if (input.files && input.files[0]) {
        say(form, "Fichier choisi : « " + input.files[0].name + " » (" + megabytes(input.files[0].size) + ").");
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(form, input);
    });
  }

  function enhanceCopy(block) {
    if (!navigator.clipboard) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "bouton bouton-secondaire copier";
    button.textContent = "Copier la commande";
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(block.textContent.trim()).then(function () {
        button.textContent = "Commande copiée";
      }, function () {
        button.textContent = "Copie impossible : sélectionnez le texte";
      });
    });
    block.insertAdjacentElement("afterend", button);
  }

  function enhance(root) {
    Array.prototype.forEach.call(root.querySelectorAll("form[data-upload]"), enhanceUpload);
    Array.prototype.forEach.call(root.querySelectorAll("pre.commande"), enhanceCopy);
  }

  enhance(document);
}());
